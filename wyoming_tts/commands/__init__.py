"""The subcommands: bench, download, export-voice, normalize, health, app."""
