-- Writes the small Nexmark event file of the golden tests (run from the repository root):
--   runnel run runtime/tests/sql/nexmark/write-events.sql && mv runtime/tests/sql/nexmark/out/part-*.json runtime/tests/sql/nexmark/events.json
CREATE TABLE gen (
    event_type INT,
    person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>
) WITH (
    'connector' = 'nexmark',
    'events.num' = '4000',
    'first-event.rate' = '50',
    'person.avg-size' = '100',
    'auction.avg-size' = '150',
    'bid.avg-size' = '60'
);

CREATE TABLE events (
    event_type INT,
    person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>
) WITH (
    'connector' = 'filesystem',
    'path' = 'runtime/tests/sql/nexmark/out',
    'format' = 'json'
);

INSERT INTO events SELECT * FROM gen;
