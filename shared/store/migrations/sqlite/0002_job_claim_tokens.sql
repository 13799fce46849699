-- Step 2: claim tokens. Every successful job claim gets a token (a fencing number) from one
-- counter of the store, and heartbeat, completion and failure must present it: two processes
-- configured with the same worker name are told apart, and a claim that expired and was taken
-- over is refused.

-- The token of the current claim, while in_progress (NULL in every other state).
ALTER TABLE jobs ADD COLUMN claim_token INTEGER;

-- The last claim token handed out (0: none yet). One row; it only grows: claims raise it, a
-- copy's import raises it, `clear_all_rows` keeps it, so a token is never handed out twice.
CREATE TABLE job_claim_sequence (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_token  INTEGER NOT NULL
);

-- Jobs a version-1 binary had in progress get tokens 1..n in enqueue order, so every claim the
-- store holds from now on has one. Their holders do not know them: such a claim can only be
-- completed by the version-1 binary that holds it (which checks the worker name only) or run out
-- and be reclaimed. The Redis step does the same.
UPDATE jobs SET claim_token = (
    SELECT COUNT(*) FROM jobs AS earlier
    WHERE earlier.state = 'in_progress' AND earlier.seq <= jobs.seq
) WHERE state = 'in_progress';
INSERT INTO job_claim_sequence (id, last_token)
    VALUES (1, (SELECT COUNT(*) FROM jobs WHERE state = 'in_progress'));
