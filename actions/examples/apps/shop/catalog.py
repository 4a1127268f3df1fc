"""The shop's catalog: read-only data shared by every endpoint."""
ITEMS = {
    1: {"id": 1, "name": "teapot", "price": 12.5},
    2: {"id": 2, "name": "kettle", "price": 30.0},
    3: {"id": 3, "name": "mug", "price": 4.25},
}
