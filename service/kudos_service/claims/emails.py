"""The email that tells a person without a wallet that kudos are held for them, with their claim link.

Rendered from Jinja2 templates (``templates/email/claim.txt`` and ``claim.html``), as plain text and HTML: the
HTML escapes every text (autoescape), marks people's text ``dir="auto"``, and uses inline styles and tables, as
mail clients need. The badge is an ``<img>`` of the kudos's badge URL, with its kind as the alternative text for
clients that block images.

    >>> email = claim_email(
    ...     name="Ada", kudos=[HeldKudos("Team Player", "Thanks for the launch!", "Grace", "#2563eb",
    ...                                  "https://kudos.example/v1/tokens/1/image.svg")],
    ...     claim_url="https://kudos.example/claim/abc", expires_on="5 January 2027",
    ...     chain_name="Base", service_name="kudos.example")
    >>> email.subject
    'Grace thanked you with a kudos'
    >>> "https://kudos.example/claim/abc" in email.text and "<b>" not in email.text
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

__all__ = ["ClaimEmail", "HeldKudos", "claim_email"]

_TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "email"
_html = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)
_text = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES),
    autoescape=False,  # noqa: S701 (plain text: nothing is interpreted as markup)
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class HeldKudos:
    """What the email shows of one held kudos."""

    kind: str
    message: str
    awarded_by: str
    color: str
    image_url: str


@dataclass(frozen=True)
class ClaimEmail:
    """A rendered claim email."""

    subject: str
    text: str
    html: str


def claim_email(
    *,
    name: str | None,
    kudos: list[HeldKudos],
    claim_url: str,
    expires_on: str,
    chain_name: str,
    service_name: str,
) -> ClaimEmail:
    """The claim email for the kudos held for a person (one or more)."""
    if not kudos:
        raise ValueError("a claim email announces at least one kudos")
    subject = (
        f"{kudos[0].awarded_by} thanked you with a kudos"
        if len(kudos) == 1
        else f"You have been thanked with {len(kudos)} kudos"
    )
    values = {
        "subject": subject,
        "name": name,
        "kudos": kudos,
        "claim_url": claim_url,
        "expires_on": expires_on,
        "chain_name": chain_name,
        "service_name": service_name,
    }
    return ClaimEmail(
        subject=subject,
        text=_text.get_template("claim.txt").render(values),
        html=_html.get_template("claim.html").render(values),
    )
