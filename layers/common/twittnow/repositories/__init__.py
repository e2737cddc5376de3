"""DynamoDB repositories, one module per table. Each is built once per Lambda instance."""

from functools import cache

from twittnow.repositories.login_attempts import LoginAttemptsRepository
from twittnow.repositories.tokens import TokensRepository
from twittnow.repositories.users import UsersRepository
from twittnow.settings import get_settings


@cache
def users() -> UsersRepository:
    return UsersRepository(get_settings().users_table)


@cache
def tokens() -> TokensRepository:
    return TokensRepository(get_settings().tokens_table)


@cache
def login_attempts() -> LoginAttemptsRepository:
    return LoginAttemptsRepository(get_settings().login_attempts_table)
