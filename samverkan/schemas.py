"""JSON Schema of config.yaml and campaign files, for editors (yaml-language-server).

Made from the models, then fitted to one plan: with its config, the keys a campaign may
name (priority areas, bases, parties, channels) become enums an editor completes, and a
channel's settings are those of its publisher. Every key has a Swedish description
(hover text), and a time that does not match says how to write it instead of showing the
pattern (``patternErrorMessage``, which yaml-language-server reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .models import Campaign, Config

LOCAL_TIME_MESSAGE = "Skriv datum och tid som ÅÅÅÅ-MM-DD TT:MM, till exempel 2018-08-13 07:30 (lokal tid)."

# model (the $defs name, or Config/Campaign for the file itself) -> key -> hover text
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Config": {
        "agreement": "Överenskommelsen: titel, period, parter, prioriterade områden och underlag.",
        "timezone": "Tidszonen som alla tider i planen skrivs i, t.ex. Europe/Stockholm.",
        "locale": "Språket för datum och texter, t.ex. sv.",
        "state": "Var liggaren (SQLite) sparas: vad som har publicerats, när och exakt hur.",
        "channels": "Kanalerna: namn → publicerare (rss, facebook, mailer ...) och dess inställningar. "
                    "Hemligheter skrivs aldrig här, bara som ${NAMN} på en miljövariabel.",
        "defaults": "Standardval, t.ex. kanalerna för ett meddelande som inte nämner några.",
        "approval": "Parterna som måste godkänna ett meddelande innan det publiceras; [] stänger av godkännande.",
        "catch_up": "Hur sent ett missat utskick ändå får publiceras, t.ex. 6h. Senare markeras det som missat.",
        "retry": "Hur tillfälliga fel försöks igen.",
        "checks": "Gränser för innehållskontrollerna i validate.",
        "alerts": "Vem som får veta när något behöver en människa, och hur.",
        "people": "Per part: de som använder pressdesken (namn, e-post, roll: approver, operator eller viewer).",
        "desk": "Pressdesken: dess publika adress (base_url) och mailer-kanalen som skickar inloggningslänkar.",
    },
    "ApprovalSettings": {
        "parties": "Parterna som måste godkänna; [] stänger av godkännande.",
        "request_ahead": "Hur långt i förväg godkännarna tillfrågas, t.ex. 7d.",
        "desk_only": "Parter vars godkännanden måste ges på pressdesken, inte på kommandoraden.",
    },
    "Desk": {
        "base_url": "Pressdeskens publika adress (https://...), för länkarna i mejlen.",
        "channel": "Mailer-kanalen som skickar inloggningslänkar och frågor om godkännande.",
    },
    "Person": {
        "name": "Namn.",
        "email": "E-postadressen som inloggningslänken skickas till.",
        "role": "approver godkänner för sin part, operator pausar och återupptar, viewer läser.",
    },
    "Agreement": {
        "title": "Överenskommelsens titel.",
        "period": "Överenskommelsens giltighetstid: start och slut.",
        "parties": "Parterna: nyckel → namn, kortnamn, logotyp, webbplats och presskontakt.",
        "priority_areas": "De prioriterade områdena: nyckel → benämning.",
        "bases": "Underlagen som prioriteringarna vilar på: nyckel → benämning.",
        "min_campaigns_per_year": "Minsta antal gemensamma kampanjer varje år (överenskommelsen: 4).",
        "briefing_interval_days": "Hur ofta lägesbilden delas, i dagar (överenskommelsen: 14).",
    },
    "Party": {
        "name": "Partens fullständiga namn, t.ex. Hultsfreds kommun.",
        "short_name": "Kort namn i löptext, t.ex. Kommunen.",
        "logo": "Logotypens bildfil, inom planens mapp, t.ex. content/images/logo-kommunen.png.",
        "website": "Partens webbplats (https://...).",
        "press_contact": "Presskontakten som står i pressmeddelandena.",
    },
    "Contact": {
        "name": "Namn.",
        "title": "Titel, t.ex. Kommunikationschef.",
        "phone": "Telefonnummer, gärna med landsnummer: +46 495 ...",
        "email": "E-postadress.",
    },
    "Period": {
        "start": "Första dagen, ÅÅÅÅ-MM-DD.",
        "end": "Sista dagen, ÅÅÅÅ-MM-DD.",
    },
    "Defaults": {
        "channels": "Kanalerna för ett meddelande som inte anger några.",
    },
    "Checks": {
        "lix_max": "Högsta läsbarhetsindex (LIX) innan validate varnar; 45 är lagom svår text.",
        "facebook_max_chars": "Högsta antal tecken i ett Facebookinlägg.",
        "flagged_words": "Ord som validate varnar för, t.ex. om misstänkta personer.",
    },
    "Retry": {
        "first": "Första väntetiden efter ett tillfälligt fel, t.ex. 1m.",
        "max_wait": "Längsta väntetiden mellan två försök, t.ex. 30m.",
        "attempts": "Antal försök totalt.",
    },
    "Alerts": {
        "mail": "Larm med e-post, genom en mailer-kanals server.",
        "command": "Ett kommando som körs för varje larm (texten på standard in).",
        "digest": "daily: ett samlat mejl om dagen i stället för ett per larm.",
        "digest_at": "Klockslag för dagens samlade mejl, TT:MM.",
        "check_ahead": "Hur långt före ett utskick kanalen kontrolleras igen, t.ex. 24h.",
        "held_ahead": "Ett utskick som fortfarande hålls så här långt före sin tid larmas, t.ex. 24h.",
    },
    "AlertMail": {
        "channel": "En kanal med publisher: mailer (dess server, inloggning och avsändare).",
        "to": "Vilka som får larmen: e-postadresser till personer, inte presslistan.",
    },
    "Campaign": {
        "kind": "campaign för en kampanj, routine för en återkommande rutin som lägesbilden.",
        "title": "Kampanjens titel.",
        "summary": "En mening om vad kampanjen vill.",
        "priority_areas": "De prioriterade områden kampanjen gäller (nycklar från config.yaml).",
        "bases": "Underlagen som motiverar kampanjen (nycklar från config.yaml).",
        "period": "Kampanjens period; inget meddelande får ligga utanför den.",
        "parties": "Parterna bakom kampanjen; utan den: alla parter.",
        "partners": "Andra som är med, fria nycklar, t.ex. grannsamverkan, frg.",
        "events": "Träffar och temadagar: de står i meddelandena och i kalendern.",
        "messages": "Meddelandena: vad som går ut, var och när.",
    },
    "Event": {
        "key": "Namnger träffen för gott: rättas tid eller titel följer prenumeranternas kalendrar med. "
               "Utan den: dess plats i listan.",
        "title": "Träffens titel.",
        "start": "När den börjar, ÅÅÅÅ-MM-DD TT:MM.",
        "end": "När den slutar, ÅÅÅÅ-MM-DD TT:MM; utan den: en timme efter start.",
        "location": "Var den är.",
        "description": "Mer om träffen.",
    },
    "Message": {
        "key": "Meddelandets nyckel i filen: a-z, 0-9, - och _.",
        "at": "När det går ut, lokal tid ÅÅÅÅ-MM-DD TT:MM.",
        "channels": "Kanalerna det går ut i; utan den: standardkanalerna.",
        "title": "Rubriken.",
        "body": "Texten, i Markdown.",
        "link": "Läs mer-länken (https://...).",
        "image": "En bild: {path: content/images/..., alt: vad bilden visar}.",
        "embargo": "Pressmeddelandet går ut vid at, märkt med embargo till den här tiden; "
                   "webb och Facebook väntar till dess.",
        "repeat": "Upprepa meddelandet: {every: 7d, until: ÅÅÅÅ-MM-DD} eller {every: 7d, count: N}.",
        "vars": "Egna variabler till mallarna.",
        "overrides": "Text och mall per kanal eller publicerare, t.ex. en kortare text för Facebook.",
    },
    "Image": {
        "path": "Bildfilen, inom planens mapp, t.ex. content/images/skolstart.png.",
        "alt": "Alternativtext: vad bilden visar, för den som inte ser den.",
    },
    "Repeat": {
        "every": "Hur ofta, i dagar, t.ex. 7d eller 14d.",
        "until": "Sista dagen, ÅÅÅÅ-MM-DD.",
        "count": "Antal gånger i stället för until.",
    },
    "Override": {
        "title": "Rubriken i den här kanalen.",
        "body": "Texten i den här kanalen, i Markdown.",
        "template": "En egen mall för den här kanalen.",
        "vars": "Egna variabler till mallarna i den här kanalen.",
    },
}


def schemas(config: Config | None = None) -> dict[str, dict[str, Any]]:
    """Both schemas; fitted to ``config``'s keys and channels when it is given."""
    config_schema = Config.model_json_schema(mode="validation")
    config_schema["title"] = "samverkan config.yaml"
    campaign = Campaign.model_json_schema(mode="validation")
    campaign["title"] = "samverkan campaign file"
    if config is not None:
        _fit_config(config_schema, config)
        _fit_campaign(campaign, config)
    for s, top in ((config_schema, "Config"), (campaign, "Campaign")):
        s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        _describe(s, top)
        _explain_patterns(s)
    return {"config.schema.json": config_schema, "campaign.schema.json": campaign}


def _describe(schema: dict[str, Any], top: str) -> None:
    for model, node in [(top, schema), *schema.get("$defs", {}).items()]:
        texts = DESCRIPTIONS.get(model, {})
        for key, prop in node.get("properties", {}).items():
            if key in texts:
                prop["description"] = texts[key]


def _explain_patterns(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("pattern") and "patternErrorMessage" not in node:
            node["patternErrorMessage"] = LOCAL_TIME_MESSAGE
        for value in node.values():
            _explain_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _explain_patterns(value)


def _enum(keys: list[str], what: str) -> dict[str, Any]:
    return {"type": "string", "enum": keys,
            "errorMessage": f"Okänd {what}; välj en av: {', '.join(keys)}." if keys else f"Ingen {what} finns i config.yaml."}


def _fit_campaign(schema: dict[str, Any], config: Config) -> None:
    ag = config.agreement
    props = schema["properties"]
    props["priority_areas"]["items"] = _enum(list(ag.priority_areas), "prioriterat område")
    props["bases"]["items"] = _enum(list(ag.bases), "underlag")
    props["parties"]["anyOf"][0]["items"] = _enum(list(ag.parties), "part")
    message = schema["$defs"]["Message"]["properties"]
    message["channels"]["anyOf"][0]["items"] = _enum(list(config.channels), "kanal")
    publishers = sorted({str(c.get("publisher")) for c in config.channels.values() if c.get("publisher")})
    message["overrides"]["propertyNames"] = _enum([*config.channels, *publishers], "kanal eller publicerare")


def _fit_config(schema: dict[str, Any], config: Config) -> None:
    """Each channel's settings are its publisher's (those of the publishers the plan
    uses, so a plugin installed elsewhere does not change the plan's schema)."""
    from publishers.base import get

    names = sorted({str(c.get("publisher")) for c in config.channels.values() if c.get("publisher")})
    choices = []
    for name in names:
        try:
            settings = get(name).Settings.model_json_schema(mode="validation")
        except KeyError:
            continue  # a plugin that is not installed here: validate says so
        settings.pop("title", None)
        schema.setdefault("$defs", {}).update(settings.pop("$defs", {}))  # nested models' refs stay valid
        settings.setdefault("properties", {})["publisher"] = {"const": name, "description": f"Publiceraren {name}."}
        for key, prop in settings["properties"].items():
            if key != "publisher" and "description" not in prop:
                prop["description"] = f"Inställningen {key} för {name}."
        choices.append({"if": {"properties": {"publisher": {"const": name}}}, "then": settings})
    channel: dict[str, Any] = {
        "type": "object", "required": ["publisher"],
        "properties": {"publisher": {"type": "string", "enum": names,
                                     "description": "Publiceraren som kanalen använder."}},
        "allOf": choices,
    }
    schema["properties"]["channels"]["additionalProperties"] = channel
    defaults = schema["$defs"]["Defaults"]["properties"]["channels"]
    defaults["items"] = _enum(list(config.channels), "kanal")
    schema["properties"]["approval"]["anyOf"][0]["items"] = _enum(list(config.agreement.parties), "part")


def plan_config(root: Path) -> Config | None:
    """The plan's config, if it loads, for :func:`schemas`; None otherwise."""
    from .loading import load_project

    return load_project(root, campaigns=False).config


def write_schemas(folder: Path, config: Config | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas(config).items():
        path = folder / name
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
