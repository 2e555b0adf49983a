"""What a customer's words ask for, and how a keyword may match them."""
from enum import StrEnum


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


class Match(StrEnum):
    WHOLE = "whole_message"   # the keyword must be (nearly) the whole message
    ANYWHERE = "anywhere"     # an unambiguous phrase that counts wherever it appears


# The intents a keyword can express, in priority order: when one message (or one
# keyword shared by several languages) points at several, the first wins, since
# honouring an opt-out is never the wrong call.
KEYWORD_INTENTS = (Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP)
INTENT_PRIORITY = KEYWORD_INTENTS
