"""The benchmark's baseline: a bare Flask endpoint that reads the body and answers 200,
run under the same gunicorn.conf.py as the service."""
from flask import Flask, request

app = Flask(__name__)


@app.post("/webhook")
def webhook():
    request.get_data()
    return {"received": 1}


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
