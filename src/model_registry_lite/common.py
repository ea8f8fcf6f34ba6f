"""What every operation shares: the HTTP error, path ids, list parameters, lookups, as upstream words them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from model_registry_lite import filters
from model_registry_lite.kinds import KINDS, Kind, id_words, not_found_words
from model_registry_lite.store import BadToken, Store


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def bad(message: str) -> HttpError:
    return HttpError(400, f"{message}: bad request")


def parse_int32(raw: str) -> int | str:
    """``strconv.ParseInt(raw, 10, 32)``: the number, or Go's reason it is none."""
    digits = raw[1:] if raw[:1] in "+-" else raw
    if not (digits.isascii() and digits.isdigit()):
        return f'strconv.ParseInt: parsing "{raw}": invalid syntax'
    number = int(raw)
    if not -(2**31) <= number < 2**31:
        return f'strconv.ParseInt: parsing "{raw}": value out of range'
    return number


def path_id(raw: str, kind: Kind) -> int:
    number = parse_int32(raw)
    if isinstance(number, str):
        raise bad(f"invalid {id_words(kind)} ID: {number}")
    return number


def not_found(kind: Kind, ident: int | str) -> HttpError:
    return HttpError(404, f"no {not_found_words(kind)} found for id {ident}: not found")


def get_or_404(store: Store, kind_name: str, ident: int) -> dict[str, Any]:
    found = store.get(kind_name, ident)
    if found is None:
        raise not_found(KINDS[kind_name], ident)
    return found


def conflict(words: str, name: str) -> HttpError:
    return HttpError(409, f"{words} with name {name} already exists: conflict")


def list_answer(
    store: Store,
    items: list[dict[str, Any]],
    query: dict[str, str],
    *,
    words: str,
    where: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """Filter, order and page ``items`` as upstream lists: ``pageSize`` echoed (0 when not given) and
    not capped, 0 or less for every item; unknown ``orderBy`` is ID, any ``sortOrder`` but DESC is ASC."""
    raw = query.get("pageSize", "")
    page_size = 0
    if raw:
        number = parse_int32(raw)
        if isinstance(number, str):
            raise bad(f"invalid numeric string: {number}")
        page_size = number
    text = query.get("filterQuery", "")
    if text.strip():
        try:
            predicate = filters.compile_filter(text, words)
        except filters.FilterError as exc:
            raise bad(str(exc)) from None
        try:
            items = [item for item in items if predicate(item)]
        except filters.FilterError as exc:
            raise bad(f"error listing {words}s: {exc}") from None
    if where is not None:
        items = [item for item in items if where(item)]
    try:
        page, token = store.page(
            items,
            order_by=query.get("orderBy") or "ID",
            sort_order=query.get("sortOrder") or "ASC",
            page_size=page_size,
            token=query.get("nextPageToken", ""),
        )
    except BadToken as exc:
        raise bad(f"invalid nextPageToken: {exc}") from None
    return {"items": page, "size": len(page), "pageSize": page_size, "nextPageToken": token}
