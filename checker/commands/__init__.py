"""One module per `kata` subcommand; see `checker.cli`."""
