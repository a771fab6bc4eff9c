"""``python -m kudos_service`` is the ``kudos`` command."""

from kudos_service.cli import main

main()
