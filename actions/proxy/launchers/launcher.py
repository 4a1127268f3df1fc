# Flurry's Python launcher, run by the action proxy as
#   python3 -u -c <this file> ENTRY MAIN
# in the action's directory. It loads ENTRY (main__.py for text code,
# __main__.py of a zip), picks the function MAIN, answers {"ok": true} on
# fd 3 (or {"error": ...} when loading failed, then exits), and then reads
# one activation per line on stdin and writes one JSON result per line on
# fd 3, the actionloop protocol.
# Only what every action needs is imported up front: asyncio, glob, site
# and traceback cost tens of milliseconds of every cold start and are
# imported when an action needs them.
import importlib.util
import json
import os
import sys


def _reply(out, obj):
    out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    out.flush()


def _load(entry, name):
    here = os.getcwd()
    # A virtualenv shipped in the zip, as OpenWhisk's python runtime takes it.
    if os.path.isdir(os.path.join(here, "virtualenv")):
        import glob
        import site
        for sp in sorted(glob.glob(os.path.join(here, "virtualenv", "lib", "python3*", "site-packages"))):
            site.addsitedir(sp)
    sys.path.insert(0, here)
    spec = importlib.util.spec_from_file_location("main__", os.path.join(here, entry))
    module = importlib.util.module_from_spec(spec)
    sys.modules["main__"] = module
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise LookupError('the action has no function "%s" in %s' % (name, entry))
    return fn


def _env(req):
    for k, v in req.items():
        if k != "value":
            os.environ["__OW_" + k.upper()] = v if isinstance(v, str) else json.dumps(v)
    if "api_key" not in req:
        os.environ.pop("__OW_API_KEY", None)


def _main():
    entry, name = sys.argv[1], sys.argv[2]
    out = os.fdopen(3, "w", encoding="utf-8")
    try:
        fn = _load(entry, name)
    except BaseException as e:  # SyntaxError, ImportError, SystemExit in module code
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        msg = "".join(traceback.format_exception_only(type(e), e)).strip()
        _reply(out, {"error": "cannot load the action: " + msg})
        sys.exit(1)
    if os.environ.get("__OW_WAIT_FOR_ACK"):
        _reply(out, {"ok": True})
    loop = None
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        if not line.strip():
            continue
        req = json.loads(line)
        _env(req)
        args = req.get("value")
        if not isinstance(args, dict):
            args = {}
        try:
            res = fn(args)
            if hasattr(res, "__await__"):
                if loop is None:
                    import asyncio
                    loop = asyncio.new_event_loop()
                res = loop.run_until_complete(res)
            if not isinstance(res, dict):
                res = {"error": "The action did not return a dictionary."}
            text = json.dumps(res, ensure_ascii=False, separators=(",", ":"))
        except Exception as e:
            import traceback
            traceback.print_exc()
            text = json.dumps({"error": "%s: %s" % (type(e).__name__, e)}, ensure_ascii=False)
        sys.stdout.flush()
        sys.stderr.flush()
        out.write(text + "\n")
        out.flush()


_main()
