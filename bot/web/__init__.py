"""The bot's web pages. static/ holds the built-in web chat (served by bot.adapters.webchat): plain
HTML, CSS and JavaScript with no build step and no resources from other sites."""
