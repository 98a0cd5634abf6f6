DELETE FROM app_settings WHERE name = 'site_name';
