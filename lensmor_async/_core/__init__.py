"""Pure decision logic: no aiohttp, no await, no clocks (time is a parameter)."""

from __future__ import annotations
