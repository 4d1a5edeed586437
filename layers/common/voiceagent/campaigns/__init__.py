"""Campaigns: dial a list at a safe pace, retry what failed, and report the results.

``manage`` creates and controls campaigns; ``dispatch`` moves due contacts into the dial queue within the
cap; ``dialer`` places them on their pacing ticks (``pacing``) through ``calls.placing``; ``outcomes``
settles attempts from the call-events bus (``attempts``, under the ``rules``), and ``sweeper`` handles what
no event moves. ``contacts``, ``numbers`` and ``windows`` read lists, numbers and calling windows.
"""
