"""The desk's HTML: every page in Swedish, readable without JavaScript or CSS, each form
labelled and usable from the keyboard (WCAG 2.1 AA). The previews of the channels are
those of ``preview --serve`` (:mod:`samverkan.previewserver`), built by the same code."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any, Iterable
from urllib.parse import quote

from ..people import Member
from ..previewserver import STYLE

ROLE_NAMES = {"approver": "godkännare", "operator": "operatör", "viewer": "läsare"}

DESK_STYLE = """
.skip{position:absolute;left:-10000px;top:auto}
.skip:focus{position:static;display:inline-block;background:#fff;padding:4px 8px}
.bar{display:flex;flex-wrap:wrap;gap:8px 24px;align-items:center;justify-content:space-between;max-width:1400px;margin:0 auto;padding:8px 16px}
.site{font-weight:bold;font-size:1.1em;color:#1a1a1a;text-decoration:none}
.paused{background:#fdecea;border:3px solid #b3261e;padding:8px 16px;margin:16px auto;max-width:1368px}
.notice{background:#e7f4ea;border:2px solid #1e6b34;padding:8px 16px;margin:16px 0}
.error{background:#fdecea;border:2px solid #b3261e;padding:8px 16px;margin:16px 0}
form.inline{display:inline}
label{display:block;font-weight:bold;margin:8px 0 4px}
input[type=email],input[type=text],textarea,select{font:inherit;padding:6px;border:2px solid #555;border-radius:3px;max-width:100%;box-sizing:border-box}
input[type=email],input[type=text],textarea{width:32em}
textarea{height:6em}
button{font:inherit;background:#0b4f8a;color:#fff;border:2px solid #0b4f8a;border-radius:4px;padding:6px 14px;margin:8px 8px 8px 0;cursor:pointer}
button.secondary{background:#fff;color:#0b4f8a}
button.danger{background:#b3261e;border-color:#b3261e}
a:focus,button:focus,input:focus,textarea:focus,select:focus,summary:focus{outline:3px solid #e8a400;outline-offset:2px}
.state-ok{color:#1e6b34;font-weight:bold}
.state-wait{color:#8a4b00;font-weight:bold}
.state-changes{color:#b3261e;font-weight:bold}
.signoff{background:#fff;border:2px solid #0b4f8a;padding:8px 16px;margin:16px 0}
"""


def _utc(text: str) -> str:
    return escape(text[:16].replace("T", " ")) + " UTC"


def page(title: str, main: str, *, member: Member | None = None, csrf: str = "", pauses: Iterable[Any] = (),
         tz: Any = None, party_names: dict[str, str] | None = None) -> str:
    """A whole page: the bar (who is signed in, sign out), the pauses in force, ``main``."""
    bar = ['<header><div class="bar"><a class="site" href="/">Pressdesken – samverkan</a>']
    if member is not None:
        party = (party_names or {}).get(member.party, member.party)
        bar.append(f'<div><span>Inloggad som {escape(member.name)} ({escape(party)}, '
                   f'{escape(ROLE_NAMES.get(member.role, member.role))})</span> '
                   f'<form class="inline" method="post" action="/logout">{hidden_csrf(csrf)}'
                   '<button class="secondary" type="submit">Logga ut</button></form></div>')
    bar.append("</div></header>")
    return (
        '<!DOCTYPE html>\n<html lang="sv">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} – pressdesken</title>\n<style>{STYLE}{DESK_STYLE}</style>\n</head>\n<body>\n"
        '<a class="skip" href="#main">Hoppa till innehållet</a>\n'
        + "".join(bar) + pause_banner(pauses, tz)
        + f'\n<main id="main">\n{main}\n</main>\n</body>\n</html>\n'
    )


def hidden_csrf(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(csrf, quote=True)}">'


def pause_banner(pauses: Iterable[Any], tz: Any) -> str:
    pauses = list(pauses)
    if not pauses:
        return ""
    items = "".join(
        f"<li><strong>{escape('Alla kanaler' if p.channel is None else p.channel)}</strong> pausad "
        f'<time datetime="{p.at.isoformat()}">{escape(p.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"))}</time> '
        f"av {escape(p.by)} ({'pressdesken' if p.way == 'desk' else 'kommandoraden'}): {escape(p.reason)}</li>"
        for p in pauses
    )
    return ('<section class="paused" role="status" aria-labelledby="paused-h"><h2 id="paused-h">Publiceringen är pausad</h2>'
            f"<ul>{items}</ul><p>Inget publiceras i de pausade kanalerna förrän en operatör återupptar. "
            "Det som blir aktuellt under tiden hålls kvar och publiceras vid återupptagandet om det inte är för sent "
            "(config.yaml: catch_up); annars markeras det som missat.</p></section>")


def message_note(notice: str | None, error: str | None) -> str:
    out = ""
    if notice:
        out += f'<div class="notice" role="status"><p>{escape(notice)}</p></div>'
    if error:
        out += f'<div class="error" role="alert"><p>{escape(error)}</p></div>'
    return out


def login(csrf: str, next_path: str, *, notice: str | None = None, error: str | None = None) -> str:
    return (
        "<h1>Logga in</h1>" + message_note(notice, error)
        + "<p>Skriv din e-postadress. Finns den bland pressdeskens användare får du en inloggningslänk "
        "som gäller i 15 minuter och kan användas en gång.</p>"
        f'<form method="post" action="/login">{hidden_csrf(csrf)}'
        f'<input type="hidden" name="next" value="{escape(next_path, quote=True)}">'
        '<label for="email">E-postadress</label>'
        '<input id="email" name="email" type="email" autocomplete="email" required>'
        '<div><button type="submit">Skicka inloggningslänk</button></div></form>'
    )


def confirm_link(csrf: str, token: str, next_path: str, why_not: str | None) -> str:
    if why_not is not None:
        return ("<h1>Länken gäller inte</h1>" + message_note(None, LINK_REFUSALS.get(why_not, LINK_REFUSALS["unknown"]))
                + '<p><a href="/login">Begär en ny inloggningslänk</a></p>')
    return (
        "<h1>Logga in</h1><p>Tryck på knappen för att logga in. Länken kan användas en gång.</p>"
        f'<form method="post" action="/login/{escape(quote(token), quote=True)}">{hidden_csrf(csrf)}'
        f'<input type="hidden" name="next" value="{escape(next_path, quote=True)}">'
        '<button type="submit">Logga in</button></form>'
    )


LINK_REFUSALS = {
    "unknown": "Länken finns inte. Kontrollera att hela länken kom med, eller begär en ny.",
    "used": "Länken har redan använts. En inloggningslänk fungerar bara en gång; begär en ny.",
    "expired": "Länken har gått ut (den gäller i 15 minuter). Begär en ny.",
}


def state_text(party_name: str, approval: Any, party: str) -> str:
    """One party's state on a message, as a list item's text."""
    if party in approval.changes:
        c = approval.changes[party]
        return (f'{escape(party_name)}: <span class="state-changes">ändringar begärda</span> av {escape(c["approved_by"])} '
                f'{_utc(c["at"])}: {escape(c["note"] or "")}')
    if party in approval.approved:
        return f'{escape(party_name)}: <span class="state-ok">godkänt</span>'
    return f'{escape(party_name)}: <span class="state-wait">väntar</span>'


def upcoming_list(project: Any, rows: list[tuple[str, str, datetime, list[str]]], approvals: dict[str, Any],
                  names: dict[str, str]) -> str:
    """The preview's list of upcoming messages, with each party's word on each."""
    from ..previewserver import upcoming_list as listed

    def states(ckey: str, mkey: str) -> str:
        a = approvals.get(f"{ckey}/{mkey}")
        if a is None or not a.required:
            return ""
        said = "; ".join(state_text(names.get(p, p), a, p) for p in a.required)
        return f"<br><span>Godkännanden: {said}</span>"

    return listed(project, rows, states)


def pause_forms(csrf: str, channels: list[str], pauses: list[Any]) -> str:
    """The operator's controls: pause a channel or all, resume what is paused."""
    options = '<option value="">Alla kanaler</option>' + "".join(
        f'<option value="{escape(c, quote=True)}">{escape(c)}</option>' for c in channels)
    out = ['<section aria-labelledby="pause-h"><h2 id="pause-h">Pausa publiceringen</h2>',
           f'<form method="post" action="/pause">{hidden_csrf(csrf)}',
           f'<label for="pause-channel">Kanal</label><select id="pause-channel" name="channel">{options}</select>',
           '<label for="pause-reason">Varför (visas för alla och sparas)</label>'
           '<input id="pause-reason" name="reason" type="text" required>',
           '<div><button class="danger" type="submit">Pausa</button></div></form>']
    for p in pauses:
        what = "alla kanaler" if p.channel is None else p.channel
        out.append(f'<form method="post" action="/resume">{hidden_csrf(csrf)}'
                   f'<input type="hidden" name="channel" value="{escape(p.channel or "", quote=True)}">'
                   f'<button type="submit">Återuppta {escape(what)}</button></form>')
    out.append("</section>")
    return "".join(out)


def signoff(project: Any, approval: Any, names: dict[str, str], history: list[dict[str, Any]], member: Member | None,
            csrf: str, action: str, first: bool, first_href: str) -> str:
    """Who has approved this text, who has asked for changes, and the signed-in approver's forms."""
    head = '<section class="approvals" id="approvals" aria-labelledby="approvals-h"><h2 id="approvals-h">Godkännanden</h2>'
    if not approval.required:
        return head + "<p>Godkännande krävs inte för det här meddelandet.</p></section>"
    if approval.error:
        return head + f'<div class="error" role="alert"><p>Meddelandet kan inte visas, så det kan inte godkännas: {escape(approval.error)}</p></div></section>'
    out = [head, "<ul>"]
    current = [h for h in history if h["content_hash"] == approval.content_hash]
    for party in approval.required:
        line = state_text(names.get(party, party), approval, party)
        last = next((h for h in reversed(current) if h["party"] == party), None)
        if last is not None and party in approval.approved:
            way = "pressdesken" if last["way"] == "desk" else f"kommandoraden, användare {last['os_user'] or 'okänd'}"
            line += f" av {escape(last['approved_by'])} {_utc(last['at'])} ({escape(way)})"
        out.append(f"<li>{line}</li>")
    out.append("</ul>")
    earlier = [h for h in history if h["verdict"] == "changes" and h["content_hash"] != approval.content_hash]
    if earlier:  # what was asked for, so the officers can see it was done
        items = "".join(f"<li>{escape(names.get(h['party'], h['party']))}, {escape(h['approved_by'])} {_utc(h['at'])}: "
                        f"{escape(h['note'] or '')}</li>" for h in earlier[-5:])
        out.append(f"<p>Tidigare begärda ändringar (av en äldre version av texten):</p><ul>{items}</ul>")
    if approval.missing:
        out.append("<p>Meddelandet hålls inne tills alla parter har godkänt den här texten. "
                   "Ändras texten efter ett godkännande måste den godkännas igen.</p>")
    if member is not None and member.approves and member.party in approval.required:
        party = names.get(member.party, member.party)
        if not first:
            out.append(f'<p>Godkännandet gäller texten som den ser ut första gången meddelandet skickas: '
                       f'<a href="{escape(first_href, quote=True)}">godkänn där</a>.</p>')
        else:
            fields = hidden_csrf(csrf) + f'<input type="hidden" name="hash" value="{escape(approval.content_hash, quote=True)}">'
            out.append(
                f'<div class="signoff"><h3>Ditt svar för {escape(party)}</h3>'
                f'<form method="post" action="{escape(action, quote=True)}/approve">{fields}'
                f'<button type="submit">Godkänn för {escape(party)}</button></form>'
                f'<form method="post" action="{escape(action, quote=True)}/changes">{fields}'
                '<label for="comment">Vad behöver ändras?</label>'
                '<textarea id="comment" name="comment" required></textarea>'
                '<div><button class="secondary" type="submit">Begär ändringar</button></div></form></div>'
            )
    elif member is not None and member.approves:
        out.append(f"<p>{escape(names.get(member.party, member.party))} behöver inte godkänna det här meddelandet.</p>")
    return "".join(out) + "</section>"
