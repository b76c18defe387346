-- ROW, ARRAY and MAP columns: printed whole, and accessed with nested field access
-- (person.name, person.address.city), array subscripts (1-based; out of range gives NULL),
-- map subscripts, CARDINALITY, and an array of rows.
CREATE TABLE src (
  id INT,
  person ROW<name STRING, age INT, address ROW<city STRING, zip STRING>>,
  tags ARRAY<STRING>,
  scores ARRAY<INT>,
  attrs MAP<STRING, STRING>,
  items ARRAY<ROW<sku STRING, qty INT>>
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  id INT,
  person ROW<name STRING, age INT, address ROW<city STRING, zip STRING>>,
  tags ARRAY<STRING>,
  scores ARRAY<INT>,
  attrs MAP<STRING, STRING>,
  person_name STRING,
  city STRING,
  first_tag STRING,
  second_score INT,
  color STRING,
  n_tags INT,
  items ARRAY<ROW<sku STRING, qty INT>>,
  first_sku STRING
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  id,
  person,
  tags,
  scores,
  attrs,
  person.name,
  person.address.city,
  tags[1],
  scores[2],
  attrs['color'],
  CARDINALITY(tags),
  items,
  items[1].sku
FROM src;
