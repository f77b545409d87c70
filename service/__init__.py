"""TasteMatch: restaurant recommendations from a diner's order history.

The API under test of TasteMatch Bench. ``service.main.create_app`` builds the FastAPI app,
``python -m service`` serves it, ``python -m service.seed`` loads the deterministic data
set and ``python -m service.memprobe`` measures one recommendation request with memray.
Settings (``TASTEMATCH_*``) are described in ``service.config``.
"""
