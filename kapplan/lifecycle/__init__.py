"""A plan's life after ``plan``: ``mark`` what happened, ``status``, and
``reschedule`` what remains; each takes a Plan and returns a new one (the
clock is an argument; files are the API's business).
"""
