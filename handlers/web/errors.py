"""Every error the webhook and the API return is JSON with a sentence a person can act on."""
from flask import jsonify
from werkzeug.exceptions import HTTPException


def json_error(status: int, message: str, **extra):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def register(app) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {
            413: f"request body too large (limit {app.config.get('MAX_CONTENT_LENGTH')} bytes)",
        }
        code = error.code or 500
        return json_error(code, messages.get(code, error.description or error.name))
