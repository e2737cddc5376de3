"""Environment -> settings, read once per Lambda instance."""

from functools import cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    users_table: str
    tokens_table: str
    login_attempts_table: str
    # Base URL of this API as clients reach it; empty means "the URL the request came in on".
    public_base_url: str = ""


@cache
def get_settings() -> Settings:
    return Settings()
