"""A plain WSGI app in Lithops' shape: Flask under gunicorn, which binds $PORT.

    FUNC_PROCESS='gunicorn --bind :$PORT app:app' runtime-proxy

runtime-proxy listens on $PORT (or FUNC_PORT, else 8080) and starts gunicorn
with PORT set to its upstream's port (8090), so the same command line works
with the proxy in front and without it. A POST or PUT (curl -T file) answers with what it read.
"""
import flask

app = flask.Flask(__name__)


@app.get("/")
def index():
    return "hello from flask\n"


@app.route("/", methods=["POST", "PUT"])
@app.route("/<path:name>", methods=["POST", "PUT"])
def echo(name=""):
    body = flask.request.get_data()
    return flask.jsonify(length=len(body), content_length=flask.request.headers.get("Content-Length"),
                         transfer_encoding=flask.request.headers.get("Transfer-Encoding"))
