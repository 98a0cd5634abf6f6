INSERT INTO app_settings (name, content) VALUES ('site_name', 'Example shop');
