"""SLA: working-time calendars (``calendars``, ``calendar_admin``), the SLA state of a case and
the periodic jobs (``service``), the scheduler process (``scheduler``), API (``views``) and
CLI (``cli``). The unit-of-work actions that pause, resume and extend live in
``app.core.sla_actions``."""
