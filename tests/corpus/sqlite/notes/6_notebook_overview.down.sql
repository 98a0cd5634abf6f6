DROP VIEW notebook_overview;
