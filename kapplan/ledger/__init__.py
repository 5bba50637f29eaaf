"""A clinic's bookings (SPEC §11): the in-memory ledger of one batch and the
SQLite ledger file shared by coordinators, both holding
:class:`kapplan.models.booking.Booking` records."""
