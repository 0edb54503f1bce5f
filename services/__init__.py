"""The shop's HTTP API and the live leaderboard page (FastAPI).

Build the app with :func:`services.app.create_app`; ``topproducts api`` serves it.
"""
