"""A small shop written as an ordinary Flask app, with nothing Flurry-specific.

Deploy it with:  flurry app deploy shop actions/examples/apps/shop
and browse APIHOST/apps/shop/. Each endpoint runs in its own pooled
containers, so state lives in cookies (the cart) or in read-only data, never
in a module-level variable that one request writes and another reads.
"""
import json

from flask import Flask, abort, jsonify, make_response, redirect, request, url_for

from catalog import ITEMS

app = Flask(__name__)


@app.get("/")
def index():
    links = "".join(
        '<li><a href="%s">%s</a></li>' % (url_for("item", item_id=i["id"]), i["name"])
        for i in ITEMS.values()
    )
    return "<h1>Flurry shop</h1><ul>%s</ul>" % links


@app.get("/items")
def items():
    return jsonify(sorted(ITEMS.values(), key=lambda i: i["id"]))


@app.get("/items/<int:item_id>")
def item(item_id):
    found = ITEMS.get(item_id)
    if found is None:
        abort(404)
    return jsonify(found)


def _cart():
    try:
        cart = json.loads(request.cookies.get("cart", "{}"))
    except ValueError:
        cart = {}
    return cart if isinstance(cart, dict) else {}


@app.post("/cart")
def add_to_cart():
    body = request.get_json(silent=True) or {}
    item_id, qty = body.get("id"), body.get("qty", 1)
    if item_id not in ITEMS or not isinstance(qty, int) or qty < 1:
        return jsonify(error="want {\"id\": <item id>, \"qty\": <positive int>}"), 400
    cart = _cart()
    cart[str(item_id)] = cart.get(str(item_id), 0) + qty
    resp = make_response(jsonify(cart=cart), 201)
    resp.set_cookie("cart", json.dumps(cart, separators=(",", ":")), path="/")
    resp.set_cookie("last_added", str(item_id), path="/")
    return resp


@app.get("/cart")
def show_cart():
    cart = _cart()
    lines = [
        {"id": int(k), "name": ITEMS[int(k)]["name"], "qty": n, "total": ITEMS[int(k)]["price"] * n}
        for k, n in sorted(cart.items())
        if k.isdigit() and int(k) in ITEMS
    ]
    return jsonify(lines=lines, total=sum(line["total"] for line in lines),
                   last_added=request.cookies.get("last_added"))


@app.post("/login")
def login():
    user = request.form.get("user", "").strip()
    if not user:
        return "a user name is required\n", 400
    resp = redirect(url_for("whoami"))
    resp.set_cookie("user", user, path="/", httponly=True)
    return resp


@app.get("/whoami")
def whoami():
    return jsonify(user=request.cookies.get("user"),
                   agent=request.headers.get("User-Agent"),
                   trace=request.headers.get("X-Trace-Id"))
