"""Create the first class in the hub's state folder and write its logins for the organiser.

Run by the playbook inside the hub image: python -c <this> NAME PAIRS TUTORS ORGANISERS LANG URL
The roster (/srv/jupyterhub/state/roster.json) holds bcrypt hashes only; the plaintext
logins go once into /out/first-class-logins.txt (mode 600) for printing the cards.
"""

import sys
from pathlib import Path

from masterclass.roster import create_class, write_private

name, pairs, tutors, organisers, lang, url = sys.argv[1:]
_, logins = create_class(
    Path("/srv/jupyterhub/state/roster.json"),
    name=name,
    pairs=int(pairs),
    tutors=int(tutors),
    organisers=int(organisers),
    lang=lang,
)
base = url.rstrip("/")
lines = [f"Masterclass Hub: {base}", f"Class {name!r}: username  passphrase  login link"]
lines += [f"  {u:<16} {p:<28} {base}/hub/login?username={u}" for u, p in logins.items()]
write_private(Path("/out/first-class-logins.txt"), "\n".join(lines) + "\n")
print(f"created the class {name!r} with {len(logins)} accounts")
