"""Telegram bot for the scalp / facial-skin self-check service."""
