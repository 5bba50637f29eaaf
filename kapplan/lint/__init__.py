"""Checking protocols like code: the rule registry (KP1xx-KP3xx), the
consistency and safety rules, the earliest shape they reason with, and the
file checks behind ``validate`` and ``load_protocol``.
"""
