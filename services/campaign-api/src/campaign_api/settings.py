from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CAMPAIGN_API_", extra="ignore", frozen=True)
    service_name = "campaign-api"
    default_database = "campaign_api"

    http_host: str = Field(default="127.0.0.1",
                           validation_alias=AliasChoices("HOST", "CAMPAIGN_API_HTTP_HOST"))
    http_port: int = Field(default=8000, ge=0, le=65535,
                           validation_alias=AliasChoices("PORT", "CAMPAIGN_API_HTTP_PORT"))
