"""Every Korean text the bot sends, as Jinja2 templates (read by ``bot/texts.py`` as package data)."""
