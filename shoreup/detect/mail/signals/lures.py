"""The words of the lure: account threats, payment pretexts, prizes; and text disguised to dodge filters.

Phrases are the pretexts that phishing awareness material and takedown reports describe, in the
languages phishing campaigns use most (English, Portuguese, Spanish, German, French, Dutch). One
theme alone is weak (real services also write "verify your account"); they add to structural signals.
"""

from __future__ import annotations

import re
import unicodedata

from ..model import ParsedMessage, Reason
from ..org import Context
from . import Code
from ._base import q, reason

CODES = {
    "LURE_ACCOUNT_THREAT": Code(2.0, "the text threatens the account (suspended, locked, expiring password)"),
    "LURE_CREDENTIALS": Code(1.5, "the text asks to verify, confirm or update credentials or details"),
    "LURE_MONEY": Code(1.5, "the text dangles money: prizes, bonuses, crypto, refunds, inheritances"),
    "LURE_URGENCY": Code(1.0, "the text presses for action now (final notice, within 24 hours)"),
    "DISGUISED_TEXT": Code(2.5, "words mix look-alike letters of other scripts or hide invisible characters"),
    "SUBJECT_HAS_ADDRESS": Code(1.5, "the subject is personalised with the raw mailbox address"),
}

_THEMES: dict[str, list[str]] = {
    "LURE_ACCOUNT_THREAT": [
        r"account (has been |was |will be |is )?(suspended|locked|blocked|disabled|limited|restricted|deactivated|closed|on hold)",
        r"(suspend|lock|block|disable|deactivat|terminat|delet)\w* (your|the) (account|mailbox|wallet|access|card|cpf|cnh)",
        r"unusual (sign[- ]?in|login|activity)", r"(password|mailbox|storage) (will )?(expire|expiring|is full|full)",
        r"storage (is )?(almost )?full", r"declined (transaction|payment)", r"payment (failed|declined|rejected)",
        r"conta (bloquead|suspens|desativad)", r"(bloqueio|suspens[aã]o) d[aeo]", r"cpf (irregular|suspens|cancelad|bloquead)",
        r"konto (gesperrt|gesperrt|eingeschr[aä]nkt|deaktiviert)", r"(gesperrt|sperrung)",
        r"compte (suspendu|bloqu[ée]|d[ée]sactiv[ée])", r"cuenta (suspendida|bloqueada)", r"account (geblokkeerd|opgeschort)",
        r"blocked your account", r"we('ve| have) (blocked|suspended|locked|limited)",
    ],
    "LURE_CREDENTIALS": [
        r"(verify|confirm|validate|update|re-?activate|secure|unlock) (your )?(account|identity|details|information|"
        r"credentials|password|payment|billing|wallet|keys|seed|email)",
        r"(sign|log) ?in to (verify|confirm|restore|secure|renew|continue)", r"seed phrase|recovery phrase|private key",
        r"two-factor authentication|2fa activation", r"(re)?confirm your (mailbox|email address)",
        r"(atualiz|confirm|regulariz|verific)\w* (seus|os|sua|seu|o|a) (dados|cadastro|conta|cpf|situa)",
        r"(best[aä]tigen|verifizieren|aktualisieren) sie (ihr|ihre|ihren)", r"(daten|konto) (best[aä]tigen|verifizieren)",
        r"(v[ée]rifi|confirm|mettre [àa] jour)\w* (votre|vos) (compte|identit|informations|donn)",
        r"(verifique|confirme|actualice) (su|sus) (cuenta|datos|identidad)", r"(bevestig|verifieer) (je|uw) (account|gegevens)",
        r"\bkyc\b",
    ],
    "LURE_MONEY": [
        r"you('ve| have)? (won|been selected)", r"\b(winner|prize|lottery|jackpot|free spins|freispiele|gratis spins)\b",
        r"(welcome|deposit|casino|no[- ]deposit) bonus", r"\bbonus\b.{0,30}(€|\$|£)\s?\d", r"(€|\$|£)\s?\d[\d.,]* bonus",
        r"\b(bitcoin|btc|usdt|crypto(currency)?|airdrop|ethereum|wallet balance)\b", r"gift ?card",
        r"(refund|reimbursement|compensation|inheritance|beneficiary|next of kin|unclaimed) ",
        r"wire transfer|bank transfer|western union|moneygram", r"(claim|collect) (your|the) (reward|prize|payment|funds|gift|bonus)",
        r"(pr[eê]mio|sorteio|ganhou|restitui[cç][aã]o|reembolso)", r"(gewinn|gewonnen|belohnung|auszahlung|gutschein)",
        r"(gagn[ée]|cadeau|remboursement)", r"(gewonnen|prijs|beloning|cadeau)", r"(felicidades|ganaste|premio)",
    ],
    "LURE_URGENCY": [
        r"\b(urgent|immediately|final (notice|warning|reminder)|last (chance|warning|notice)|act now|expires? (today|soon))\b",
        r"within (24|48|72) ?(hours|hrs|h)\b", r"\b(24|48)[- ]hours?\b", r"(dringend|sofort|letzte (mahnung|chance|warnung))",
        r"(urgente|imediat|[uú]ltimo aviso|prazo final|notifica[cç][aã]o final)", r"(urgent|imm[ée]diatement|dernier avis)",
        r"(dringend|onmiddellijk|laatste kans)", r"(urgente|inmediatamente|[uú]ltimo aviso)",
    ],
}
# Compiled one by one: the engine skips ahead on each pattern's literal prefix, which one big
# alternation defeats (twice as slow).
_PATTERNS = {code: [re.compile(p) for p in pats] for code, pats in _THEMES.items()}
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\u00ad\ufeff\u034f\u180e]")
_WORD = re.compile(r"\w{3,}")
#: Lures sit at the top of a message; scanning further only finds quoted or boilerplate text.
_TEXT_CAP = 2_500


def _script(ch: str) -> str:
    try:
        return unicodedata.name(ch).split()[0]
    except ValueError:
        return ""


def _disguised_word(text: str) -> str:
    """A word that mixes Latin letters with letters of another script (bᥣoᥴkᥱd, ΚYC), or ''."""
    for m in _WORD.finditer(text):
        word = m.group(0)
        if word.isascii():
            continue
        scripts = {_script(c) for c in word if c.isalpha()}
        scripts.discard("")
        if "LATIN" in scripts and len(scripts) > 1:
            return word
        if len(word) >= 3 and all(c.isupper() for c in word if c.isalpha()) and len(scripts) > 1:
            return word
    return ""


def check(msg: ParsedMessage, ctx: Context) -> list[Reason]:
    out: list[Reason] = []
    subject = msg.subject
    text = subject + "\n" + msg.text[:_TEXT_CAP]
    folded = unicodedata.normalize("NFKC", text).lower()
    for code, patterns in _PATTERNS.items():
        for pattern in patterns:
            m = pattern.search(folded)
            if m:
                out.append(reason(CODES, code, f"The text says {q(m.group(0).strip(), 60)}."))
                break
    display = msg.from_[0].display if msg.from_ else ""
    for where, value in (("subject", subject), ("sender name", display)):
        word = _disguised_word(value)
        if word:
            out.append(reason(CODES, "DISGUISED_TEXT", f"A word in the {where}, {q(word)}, mixes writing systems."))
            break
    else:
        hidden = len(_INVISIBLE.findall(subject)) + len(_INVISIBLE.findall(msg.text[:_TEXT_CAP]))
        if hidden >= 10 or _INVISIBLE.search(subject):
            out.append(reason(CODES, "DISGUISED_TEXT", f"The text hides {hidden} invisible character(s) between letters."))
    low = subject.lower()
    for addr in msg.recipients:
        if addr and addr in low:
            out.append(reason(CODES, "SUBJECT_HAS_ADDRESS", f"The subject contains the recipient's address {q(addr)}."))
            break
    return out
