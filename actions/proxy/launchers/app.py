# Flurry's Python app launcher (ADR 010), run by the action proxy as
#   python3 -u -c <this file> MODULE ATTR
# in the app's directory, which goes on sys.path (with the site-packages
# of a virtualenv/ shipped in a zip). It imports MODULE, takes its
# attribute ATTR, a WSGI application, and speaks a line protocol: one
# JSON object per line on stdin, one JSON object per line on fd 3.
#
#   (start)                        -> {"ok": true}, or
#                                     {"error": "cannot load the app: ..."}
#                                     after the traceback on stderr, then exit 1
#   {"op": "register"}             -> {"routes": [{"methods": [...],
#                                     "rule": "/users/<int:id>", "endpoint": "user"}]}
#   {"op": "specialize", "endpoint": E}
#                                  -> {"ok": true, "endpoint": E}
#   any line with "value" (a /run) -> {"statusCode": N, "headers": {name: [values]},
#                                     "body": text, "isBase64Encoded": bool},
#                                     or {"error": "Type: message"} when the WSGI
#                                     call raised (traceback on stderr)
#
# An op that fails answers {"error": message, "status": N}: N is the HTTP
# status the proxy answers with (404 unknown endpoint, 502 no url_map).
# A /run line is the proxy's /run body: its "value" is the HTTP event
# ({"method", "path", "rawQuery", "headers", "body", "isBase64Encoded",
# "scriptName"}), its other fields become __OW_ environment variables.
#
# Flask is the app's import, never the launcher's; base64, traceback and
# urllib.parse are imported when a request needs them (an app that uses
# Werkzeug has imported them anyway).
import json
import os
import sys
from io import BytesIO

# The methods of a Werkzeug rule that names none (it serves them all).
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]


def _reply(out, obj):
    try:
        out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    except UnicodeEncodeError:  # a lone surrogate in a header: escape it
        out.write(json.dumps(obj, separators=(",", ":")) + "\n")
    out.flush()


def _describe(e):
    import traceback
    return "".join(traceback.format_exception_only(type(e), e)).strip()


def _load(module_name, attr):
    here = os.getcwd()
    # A virtualenv shipped in the zip, as OpenWhisk's python runtime takes it.
    if os.path.isdir(os.path.join(here, "virtualenv")):
        import glob
        import site
        for sp in sorted(glob.glob(os.path.join(here, "virtualenv", "lib", "python3*", "site-packages"))):
            site.addsitedir(sp)
    sys.path.insert(0, here)
    import importlib
    module = importlib.import_module(module_name)
    app = getattr(module, attr)  # AttributeError says which is missing
    if not callable(app):
        raise TypeError("%s:%s is a %s, not a WSGI application" % (module_name, attr, type(app).__name__))
    return app


def _env(req):
    for k, v in req.items():
        if k != "value":
            os.environ["__OW_" + k.upper()] = v if isinstance(v, str) else json.dumps(v)
    if "api_key" not in req:
        os.environ.pop("__OW_API_KEY", None)


def _rules(app):
    """The app's Werkzeug rules, or None when it has no url_map."""
    url_map = getattr(app, "url_map", None)
    if url_map is None or not callable(getattr(url_map, "iter_rules", None)):
        return None
    return list(url_map.iter_rules())


NO_URL_MAP = "the app has no Werkzeug url_map (is it a Flask app?)"


def _register(app):
    try:
        rules = _rules(app)
        if rules is None:
            return {"error": NO_URL_MAP + ": cannot list its routes", "status": 502}
        routes = [{"methods": sorted(r.methods) if r.methods else ALL_METHODS,
                   "rule": r.rule, "endpoint": str(r.endpoint)} for r in rules]
    except Exception as e:
        import traceback
        traceback.print_exc()
        return {"error": "cannot list the app's routes: %s: %s" % (type(e).__name__, e), "status": 502}
    return {"routes": routes}


def _specialize(app, endpoint):
    if not isinstance(endpoint, str) or not endpoint:
        return {"error": "no endpoint given", "status": 400}
    try:
        rules = _rules(app)
        views = getattr(app, "view_functions", None)
        if rules is None and not isinstance(views, dict):
            return {"error": NO_URL_MAP + ": cannot specialize it", "status": 502}
        known = any(str(r.endpoint) == endpoint for r in rules or ())
        known = known or (isinstance(views, dict) and endpoint in views)
    except Exception as e:
        import traceback
        traceback.print_exc()
        return {"error": "cannot list the app's endpoints: %s: %s" % (type(e).__name__, e), "status": 502}
    if not known:
        return {"error": 'the app has no endpoint "%s"' % endpoint, "status": 404}
    return {"ok": True, "endpoint": endpoint}


def _wsgi_str(s):
    """A WSGI "native string": the bytes on the wire as latin-1. The
    event's strings are Unicode decoded from UTF-8 bytes."""
    if s.isascii():
        return s
    return s.encode("utf-8").decode("latin-1")


def _unquote(path):
    """Percent-decodes a path into a WSGI string, as PATH_INFO must be."""
    if "%" not in path:
        return _wsgi_str(path)
    from urllib.parse import unquote_to_bytes
    return unquote_to_bytes(path).decode("latin-1")


def _header_value(v):
    if isinstance(v, list):
        v = ", ".join(str(x) for x in v)
    elif not isinstance(v, str):
        v = str(v)
    return v


def _body_bytes(event):
    body = event.get("body")
    if body is None or body == "":
        return b""
    if not isinstance(body, str):
        body = json.dumps(body, ensure_ascii=False)
    if event.get("isBase64Encoded"):
        import base64
        return base64.b64decode(body)
    return body.encode("utf-8")


def _server(host, scheme):
    """SERVER_NAME and SERVER_PORT from a Host header."""
    default = "443" if scheme == "https" else "80"
    if not host:
        return "localhost", default
    if host.startswith("["):  # [::1]:8080
        end = host.find("]")
        if end > 0:
            rest = host[end + 1:]
            return host[:end + 1], rest[1:] if rest.startswith(":") and rest[1:].isdigit() else default
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, port
    return host, default


def _environ(event, body):
    headers = event.get("headers")
    if not isinstance(headers, dict):
        headers = {}
    headers = {k.lower(): v for k, v in headers.items() if isinstance(k, str)}
    proto = _header_value(headers.get("x-forwarded-proto", "")).split(",")[0].strip().lower()
    scheme = proto if proto in ("http", "https") else "http"
    path = event.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    script = (event.get("scriptName") or "").rstrip("/")
    name, port = _server(_header_value(headers.get("host", "")), scheme)
    env = {
        "REQUEST_METHOD": str(event.get("method") or "GET").upper(),
        "SCRIPT_NAME": _unquote(script),
        "PATH_INFO": _unquote(path),
        "QUERY_STRING": _wsgi_str(event.get("rawQuery") or ""),
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": name,
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": BytesIO(body),
        # The body is whole: readers need not trust CONTENT_LENGTH alone.
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for k, v in headers.items():
        if "_" in k:
            # "x_user" would pass for "x-user" in the environ; servers drop
            # such names for that reason.
            continue
        key = k.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue  # the body is decoded and whole; its length is counted above
        v = _wsgi_str(_header_value(v))
        if key == "CONTENT_TYPE":
            env["CONTENT_TYPE"] = v
        else:
            env["HTTP_" + key] = v
    return env


def _unwire(v):
    """A WSGI header value back to Unicode, for the JSON result."""
    if v.isascii():
        return v
    try:
        return v.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return v


def _serve(app, event):
    """Calls the app with event and returns the HTTP result object."""
    body = _body_bytes(event)
    environ = _environ(event, body)
    state = {}
    chunks = []

    def start_response(status, headers, exc_info=None):
        if state and not exc_info:
            raise AssertionError("start_response called a second time without exc_info")
        # Nothing is sent before the app returns, so an error page may
        # always replace what an earlier call set.
        state["status"], state["headers"] = status, headers
        return chunks.append

    it = app(environ, start_response)
    try:
        for chunk in it:
            if not isinstance(chunk, (bytes, bytearray)):
                raise TypeError("the app yielded a %s; a WSGI body is bytes" % type(chunk).__name__)
            if chunk:
                chunks.append(chunk)
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
    if "status" not in state:
        raise RuntimeError("the app returned without calling start_response")
    status = int(str(state["status"]).split(None, 1)[0])
    headers, names = {}, {}
    for name, value in state["headers"]:
        name = names.setdefault(name.lower(), name)  # one key per header, the app's spelling
        headers.setdefault(name, []).append(_unwire(value))
    data = b"".join(chunks)
    try:
        text, encoded = data.decode("utf-8"), False
    except UnicodeDecodeError:
        import base64
        text, encoded = base64.b64encode(data).decode("ascii"), True
    return {"statusCode": status, "headers": headers, "body": text, "isBase64Encoded": encoded}


def _main():
    module_name, attr = sys.argv[1], sys.argv[2]
    out = os.fdopen(3, "w", encoding="utf-8")
    try:
        app = _load(module_name, attr)
    except BaseException as e:  # SyntaxError, ImportError, SystemExit in module code
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        _reply(out, {"error": "cannot load the app: " + _describe(e)})
        sys.exit(1)
    _reply(out, {"ok": True})
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        if not line.strip():
            continue
        req = json.loads(line)
        op = None if "value" in req else req.get("op")
        if op == "register":
            res = _register(app)
        elif op == "specialize":
            res = _specialize(app, req.get("endpoint"))
        elif op is not None:
            res = {"error": "unknown op %r" % (op,), "status": 400}
        else:
            _env(req)
            event = req.get("value")
            if not isinstance(event, dict):
                event = {}
            try:
                res = _serve(app, event)
            except Exception as e:
                import traceback
                traceback.print_exc()
                res = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.flush()
        sys.stderr.flush()
        _reply(out, res)


_main()
