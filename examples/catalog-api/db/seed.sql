-- Seed data for catalog-api. Spacepods loads it into a new database, before
-- or after `catalog-api migrate` runs: the table definition matches the
-- migrations (which use IF NOT EXISTS), and re-running it changes nothing.
CREATE TABLE IF NOT EXISTS products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    category    text NOT NULL DEFAULT 'general'
);

INSERT INTO products (sku, name, description, category) VALUES
    ('POD-001', 'Scout Pod', 'One-seat pod for short hops between stations.', 'pods'),
    ('POD-002', 'Cargo Pod', 'Four cubic metres of pressurised cargo space.', 'pods'),
    ('SUIT-01', 'EVA Suit', 'Eight hours of life support, one size fits most.', 'gear'),
    ('HELM-01', 'Visor Helmet', 'Gold-coated visor, anti-fog.', 'gear'),
    ('FUEL-10', 'Fuel Cell x10', 'Ten standard hydrazine cells.', 'supplies')
ON CONFLICT (sku) DO NOTHING;
