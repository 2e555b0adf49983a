"""The benchmark's peer: a webhook built on pywa's Flask integration, under the same
gunicorn.conf.py as the service. It checks the signature (pywa's own check over the raw
body), parses typed updates and runs a handler per update; no database, no log line.

    pip install pywa     # or: pip install -e '.[bench]'
"""
import os

from flask import Flask
from pywa import WhatsApp, types

app = Flask(__name__)
wa = WhatsApp(
    phone_id="106540352242922", token="bench-token", server=app, webhook_endpoint="/webhook",
    verify_token="bench-verify", app_secret=os.environ.get("WHATSAPP_APP_SECRET", "bench-secret"),
    validate_updates=True, webhook_challenge_delay=0,
)
seen = {"message": 0, "status": 0}


@wa.on_message
def on_message(client: WhatsApp, message: types.Message) -> None:
    seen["message"] += 1
    _ = message.text  # what a handler would read to decide


@wa.on_message_status
def on_status(client: WhatsApp, status: types.MessageStatus) -> None:
    seen["status"] += 1
    _ = status.status


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
