from enum import Enum


class Intent(str, Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    NONE = "none"


class Match(str, Enum):
    WHOLE = "whole_message"
    ANYWHERE = "anywhere"
