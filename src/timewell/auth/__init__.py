"""Authentication without HTTP: API tokens, their hashes in the catalog, and verification."""

from timewell.auth.tokens import (
    OPERATOR_TOKEN_NAME,
    TOKEN_PREFIX,
    CannotDeleteOperatorToken,
    IssuedToken,
    OperatorTokenExists,
    TokenFile,
    TokenNotFound,
    Tokens,
    new_token_text,
    token_hash,
)

__all__ = [
    "OPERATOR_TOKEN_NAME",
    "TOKEN_PREFIX",
    "CannotDeleteOperatorToken",
    "IssuedToken",
    "OperatorTokenExists",
    "TokenFile",
    "TokenNotFound",
    "Tokens",
    "new_token_text",
    "token_hash",
]
