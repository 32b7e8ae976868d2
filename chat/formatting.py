"""Message formatting: a chat subset of Markdown rendered once per post or edit, then sanitized by an allow-list."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import nh3
from django.urls import reverse
from django.utils.html import escape
from markdown_it import MarkdownIt

# Bold, italic, strike, inline code, fenced code, quotes, lists and links; no raw HTML, no images,
# no headings or tables (a "# topic" line in a chat stays text). Single newlines are line breaks.
_md = MarkdownIt("zero", {"html": False, "breaks": True, "linkify": True}).enable(
    [
        *("fence", "blockquote", "list"),
        *("newline", "escape", "backticks", "strikethrough", "emphasis", "link", "autolink", "entity", "linkify"),
    ]
)
_md.linkify.set({"fuzzy_link": True, "fuzzy_email": True})
_LINK_SCHEMES = ("http:", "https:", "mailto:")
# markdown-it refuses javascript:/data: itself; this narrows links to the schemes we allow at all.
_md.validateLink = lambda url: url.strip().lower().startswith(_LINK_SCHEMES)

# Django usernames are letters, digits and @.+-_; trailing punctuation is not part of a name.
_MENTION_RE = re.compile(r"@([\w.@+-]{1,150})")
_NOT_BEFORE_MENTION = re.compile(r"[\w@]")  # x@example.com is an address, not a mention


def _mention_rule(state, silent: bool) -> bool:
    pos = state.pos
    if state.src[pos] != "@" or (pos > 0 and _NOT_BEFORE_MENTION.match(state.src[pos - 1])):
        return False
    match = _MENTION_RE.match(state.src, pos)
    name = match.group(1).rstrip(".-+@") if match else ""
    if not name:
        return False
    if not silent:
        token = state.push("mention", "", 0)
        token.content = "@" + name
        token.meta = {"username": name}
    state.pos += 1 + len(name)
    return True


def _render_mention(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    user_id = env.get("users", {}).get(token.meta["username"])
    if user_id is None:
        return escape(token.content)  # not a user: plain text
    url = reverse("profile", args=[token.meta["username"]])
    return f'<a href="{escape(url)}" class="mention" data-user-id="{user_id}">{escape(token.content)}</a>'


_md.inline.ruler.before("text", "mention", _mention_rule)
_md.add_render_rule("mention", _render_mention)

ALLOWED_TAGS = {"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
# Built once: a Cleaner is several times faster per message than nh3.clean(html, **options).
_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes={"a": {"href", "data-user-id"}, "ol": {"start"}},
    allowed_classes={"a": {"mention"}},
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
)


@dataclass(frozen=True)
class Rendered:
    html: str
    mentioned_ids: frozenset[int]


def _mention_tokens(tokens) -> list:
    """Mention tokens outside links (a mention inside [link text](url) stays text)."""
    found = []
    for block in tokens:
        depth = 0
        for token in block.children or ():
            if token.type == "link_open":
                depth += 1
            elif token.type == "link_close":
                depth -= 1
            elif token.type == "mention":
                if depth:
                    token.type = "text"
                else:
                    found.append(token)
    return found


def mentioned_usernames(body: str) -> set[str]:
    """`@bob, @carol.` -> {"bob", "carol"}: names as the renderer sees them (not in code, not in addresses)."""
    return {token.meta["username"] for token in _mention_tokens(_md.parse(body, {}))}


def render_body(body: str, *, user_ids_by_name: Callable[[Iterable[str]], dict[str, int]] | None = None) -> Rendered:
    """The sanitized HTML of a message body; `@name` of an existing user becomes a marked profile link."""
    env: dict = {}
    tokens = _md.parse(body, env)
    names = {token.meta["username"] for token in _mention_tokens(tokens)}
    env["users"] = (user_ids_by_name or _user_ids_by_name)(names) if names else {}
    html = _md.renderer.render(tokens, _md.options, env)
    return Rendered(html=_cleaner.clean(html).strip(), mentioned_ids=frozenset(env["users"].values()))


def _user_ids_by_name(names: Iterable[str]) -> dict[str, int]:
    from django.contrib.auth import get_user_model

    return dict(get_user_model().objects.filter(username__in=list(names)).values_list("username", "pk"))
