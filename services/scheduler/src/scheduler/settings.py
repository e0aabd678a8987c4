from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", extra="ignore", frozen=True)
    service_name = "scheduler"
    default_database = "scheduler"

    # email.due leaves this long before the send time, so content is ready when it is due.
    lead_time_seconds: int = Field(default=1800, ge=0, le=7 * 24 * 3600)
    tick_seconds: float = Field(default=1.0, gt=0, le=60)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    # Missed sends older than this (after downtime) are skipped and recorded, not sent late.
    catch_up_window_seconds: int = Field(default=6 * 3600, ge=0)

    # Journeys' timers: how often the loop looks for due enrollments when it found fewer than
    # a batch, and how many it claims and advances per transaction.
    journey_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    journey_batch_size: int = Field(default=500, ge=1, le=10_000)
    # journey.progress (the dashboard's counts per step): at most one per journey this often,
    # and only when its counts changed; each look counts the journey's enrollments in SQL.
    journey_progress_seconds: float = Field(default=10.0, ge=0.1, le=3600)

    @property
    def lead_time(self) -> timedelta:
        return timedelta(seconds=self.lead_time_seconds)

    @property
    def catch_up_window(self) -> timedelta:
        return timedelta(seconds=self.catch_up_window_seconds)
