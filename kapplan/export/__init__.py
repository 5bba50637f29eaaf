"""A Plan in the formats other programs read: iCalendar (with VTIMEZONEs in
the RRULE form Outlook needs, and the privacy levels of SPEC §8) and CSV.
"""
