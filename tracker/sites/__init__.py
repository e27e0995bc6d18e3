"""Sites: typed settings (checked on write), secret and write keys, and creating and
changing a site."""
