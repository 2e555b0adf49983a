"""The server as deployed (gunicorn.conf.py): slow clients, the outbox sender process, the control socket."""
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from handlers.testing import payloads
from handlers.testing.gunicorn import GunicornService


def _sender_pids(service: GunicornService) -> list[int]:
    pids = []
    for pid in service.worker_pids():
        try:
            if b"handlers.delivery.sender" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            pass
    return pids


def _wait_for(condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _suppressed(service: GunicornService, wa_id: str) -> bool:
    status, body = service.api("GET", f"/api/suppressions/{wa_id}")
    assert status == 200, body
    return json.loads(body)["suppressed"]


@pytest.mark.slow
def test_slow_clients_cannot_hold_the_workers(tmp_path, cloud_api):
    """Clients that announce 100 KB and trickle it (or stall) while a signed STOP arrives."""
    stop = threading.Event()
    with GunicornService(str(tmp_path / "slow.db"), cloud_api.url, workers=2) as service:
        slow = []
        for _ in range(6):  # three times the workers
            sock = socket.create_connection(("127.0.0.1", service.port))
            sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{")
            slow.append(sock)

        def trickle():
            while not stop.wait(1.0):
                for sock in slow[:3]:  # half trickle a byte a second, half stall
                    try:
                        sock.sendall(b" ")
                    except OSError:
                        pass
        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        try:
            time.sleep(1.5)  # the slow clients are in before the STOP
            status, body = service.request(
                "POST", "/webhook", *_signed(service, payloads.text("STOP", wa_id="14155550400")), timeout=20)
            assert status == 200, body
            assert _suppressed(service, "14155550400")
        finally:
            stop.set()
            trickler.join()
            for sock in slow:
                sock.close()


def _signed(service, message):
    body = payloads.encode(payloads.of_messages(message))
    return body, payloads.signed_headers(body, service.app_secret)


@pytest.mark.slow
def test_the_outbox_sender_is_its_own_process_and_is_restarted_when_it_dies(tmp_path, cloud_api):
    with GunicornService(str(tmp_path / "sender.db"), cloud_api.url, workers=2) as service:
        (first,) = _wait_for(lambda: _sender_pids(service), what="the sender process")
        os.kill(first, signal.SIGKILL)
        (second,) = _wait_for(lambda: [pid for pid in _sender_pids(service) if pid != first],
                              what="a new sender process")
        assert second != first
        assert service.post_delivery(payloads.of_messages(payloads.text("STOP", wa_id="14155550401")))[0] == 200
        assert [r.to for r in cloud_api.wait_for(1, timeout=15)] == ["14155550401"]


@pytest.mark.slow
def test_a_host_without_a_sender_accepts_deliveries_and_another_drains_them_once(tmp_path, cloud_api):
    db_path = str(tmp_path / "shared.db")
    numbers = [f"1415555050{n}" for n in range(6)]
    with GunicornService(db_path, cloud_api.url, workers=1, extra_env={
            "OPTOUT_SENDER": "0", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics-a")}) as web_only:
        assert _sender_pids(web_only) == []
        for number in numbers[:3]:
            assert web_only.post_delivery(payloads.of_messages(payloads.text("STOP", wa_id=number)))[0] == 200
        time.sleep(1.5)
        assert cloud_api.received == []  # nothing sends on this host
        with GunicornService(db_path, cloud_api.url, workers=1, extra_env={
                "OPTOUT_OUTBOX_POLL_SECONDS": "0.2", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics-b")}):
            for number in numbers[3:]:
                assert web_only.post_delivery(payloads.of_messages(payloads.text("STOP", wa_id=number)))[0] == 200
            cloud_api.wait_for(6, timeout=20)
            time.sleep(1.0)  # would anything be sent twice?
    assert sorted(r.to for r in cloud_api.received) == sorted(numbers)


def test_the_shipped_config_opens_no_per_user_control_socket(tmp_path, cloud_api):
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    runtime.mkdir()
    with GunicornService(str(tmp_path / "ctl.db"), cloud_api.url, workers=1,
                         extra_env={"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}) as service:
        assert service.request("GET", "/healthz")[0] == 200
        assert not (home / ".gunicorn" / "gunicorn.ctl").exists()
        assert not (runtime / "gunicorn.ctl").exists()


def test_a_client_that_expects_100_continue_is_answered(tmp_path, cloud_api):
    """curl sends `Expect: 100-continue` for bodies over 1 KB and waits for it before the body."""
    with GunicornService(str(tmp_path / "expect.db"), cloud_api.url, workers=1) as service:
        body, headers = _signed(service, payloads.text("STOP " + "x" * 2000, wa_id="14155550700"))
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        with socket.create_connection(("127.0.0.1", service.port), timeout=20) as sock:
            sock.sendall(f"POST /webhook HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {len(body)}\r\n"
                         f"Expect: 100-continue\r\n\r\n".encode())
            assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(body)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
