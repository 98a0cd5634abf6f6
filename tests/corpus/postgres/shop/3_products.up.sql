CREATE TABLE products (
    id         serial PRIMARY KEY,
    sku        sku_code     NOT NULL UNIQUE,
    name       varchar(200) NOT NULL,
    price      money_amount NOT NULL,
    stock      integer      NOT NULL DEFAULT 0 CHECK (stock >= 0),
    attributes jsonb        NOT NULL DEFAULT '{}'::jsonb,
    retired    boolean      NOT NULL DEFAULT false
);

CREATE INDEX products_name_trgm ON products USING gin (name gin_trgm_ops);
CREATE INDEX products_on_sale ON products (price) WHERE NOT retired AND stock > 0;
CREATE INDEX products_colour ON products ((attributes ->> 'colour'));

COMMENT ON COLUMN products.attributes IS $note$free-form: {"colour": "red", "size": "M"}; never prices$note$;
