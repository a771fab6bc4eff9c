"""The claim email: plain text and HTML, every text escaped in the HTML, people's text marked ``dir="auto"``,
the claim link in both, and a header that cannot be split by what people typed."""

from __future__ import annotations

from email.message import EmailMessage
from html.parser import HTMLParser

import pytest
from kudos_service.claims.emails import HeldKudos, claim_email

URL = "https://kudos.example/claim/Zq81xYb2c4Zq81xYb2c4Zq81xYb2c4Zq81xYb2c4abc"


def held(**changes: str) -> HeldKudos:
    values = {
        "kind": "Team Player",
        "message": "Thanks for the launch!",
        "awarded_by": "Grace",
        "color": "#2563eb",
        "image_url": "https://kudos.example/v1/tokens/1/image.svg",
    } | changes
    return HeldKudos(**values)


def render(kudos: list[HeldKudos], name: str | None = "Ada") -> tuple[str, str, str]:
    email = claim_email(
        name=name,
        kudos=kudos,
        claim_url=URL,
        expires_on="5 January 2027",
        chain_name="Base",
        service_name="kudos.example",
    )
    return email.subject, email.text, email.html


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_one_kudos_names_its_giver_and_carries_the_link_in_both_parts():
    subject, text, html = render([held()])
    assert subject == "Grace thanked you with a kudos"
    assert text.startswith("Hello Ada,\n\nGrace thanked you with a kudos")
    assert URL in text
    assert '"Thanks for the launch!"' in text
    assert "until 5 January 2027" in text
    parsed = Collect()
    parsed.feed(html)
    links = [attrs.get("href") for tag, attrs in parsed.tags if tag == "a"]
    assert links == [URL, URL]  # the button and the address written out
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert images == [
        {
            "src": "https://kudos.example/v1/tokens/1/image.svg",
            "width": "96",
            "height": "96",
            "alt": "Team Player badge",
            "style": "display:block;border:0;border-radius:8px;",
        }
    ]


def test_several_kudos_are_each_shown_and_counted():
    subject, text, html = render([held(), held(kind="Mentor", awarded_by="Linus", message="For the reviews.")])
    assert subject == "You have been thanked with 2 kudos"
    assert "* Team Player, from Grace" in text
    assert "* Mentor, from Linus" in text
    assert "claim them" in text
    assert html.count('alt="') == 2


def test_without_a_name_the_greeting_is_plain():
    _, text, html = render([held()], name=None)
    assert text.startswith("Hello,\n")
    assert "Hello," in html


def test_people_s_text_is_escaped_and_marked_dir_auto_in_the_html():
    hostile = held(
        kind='<img src=x onerror="alert(1)">',
        message="</p><script>alert(1)</script>",
        awarded_by='Mallory" onclick="x',
    )
    _, text, html = render([hostile], name="<b>Ada</b>")
    assert "<script>" not in html
    assert "<img src=x" not in html
    assert 'onclick="x' not in html
    assert "&lt;script&gt;" in html
    assert "<b>Ada</b>" in text  # plain text is shown as it is: nothing interprets it
    parsed = Collect()
    parsed.feed(html)
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    marked = [attrs for tag, attrs in parsed.tags if attrs.get("dir") == "auto"]
    assert len(marked) >= 4  # the name, the giver, the kind, the message


def test_right_to_left_text_is_marked_for_the_mail_client():
    _, _, html = render([held(message="תודה רבה על העבודה", awarded_by="فاطمة الزهراء")])
    assert '<span dir="auto">فاطمة الزهراء</span>' in html
    assert 'dir="auto">תודה רבה על העבודה</p>' in html


def test_the_subject_cannot_carry_a_header_split():
    subject, _, _ = render([held(awarded_by="Grace\r\nBcc: everyone@example.com")])
    message = EmailMessage()
    with pytest.raises(ValueError, match=r"linefeed|carriage return"):
        message["Subject"] = subject


def test_an_email_announces_something():
    with pytest.raises(ValueError, match="at least one"):
        render([])
