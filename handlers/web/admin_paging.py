"""Paging for the admin lists: which slice of a long result a page shows, and the
links to the others (every filter of the request kept)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    number: int          # 1-based, clamped to the pages there are
    size: int
    total: int

    @classmethod
    def requested(cls, total: int, size: int = PAGE_SIZE) -> Page:
        try:
            number = int(request.args.get("page", "1"))
        except ValueError:
            number = 1
        pages = max(1, -(-total // size))
        return cls(min(max(number, 1), pages), size, total)

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_shown(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last_shown(self) -> int:
        return min(self.offset + self.size, self.total)


def url_with(**changes) -> str:
    """This page's URL with some query arguments changed (None removes one)."""
    args = {**request.args.to_dict(), **changes}
    args = {key: value for key, value in args.items() if value not in (None, "")}
    return url_for(request.endpoint or "admin.overview", **(request.view_args or {}), **args)
