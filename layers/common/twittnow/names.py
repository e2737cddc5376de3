"""When two names are the same name: usernames and custom field names are unique in this
form, so look-alikes (fullwidth `ａｄｍｉｎ`, `ADMIN`, the ligature in `ﬁeld`) cannot sit
beside the name they imitate.

NFKC maps compatibility characters (fullwidth letters, ligatures, superscripts) to their
plain letters; casefold is Unicode's caseless matching (`ß` matches `ss`, which lower()
misses); the second NFKC is there because casefolding can leave a string unnormalized
(the standard's compatibility caseless match, D146 in its chapter 3, normalizes again after
casefolding for that reason). Letters that
are distinct letters, only looking alike, stay distinct: Turkish dotless `ı` is not `i`,
Cyrillic `а` is not Latin `a` (catching those needs UTS #39 confusable skeletons)."""

import unicodedata


def matching_key(name: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
