#!/usr/bin/env node
/*
 * Runs the Twittnow business rule the way an instance does, with stand-ins for the Glide
 * APIs it uses, so tests can check what it sends without a ServiceNow instance.
 *
 *     node run_business_rule.js < scenario.json
 *
 * The instance saves an update to a case, evaluates the rule's condition while saving (with
 * the update's changes and the updating user), and if it holds, later runs the script as an
 * async job: on the case as it is then, with no previous record, where changes() and
 * changesTo() do not work (the stand-ins throw, so the script cannot come to rely on them).
 *
 * Scenario:
 *   case         the case before the update: sys_id, number, state, close_notes,
 *                sys_mod_count, sys_updated_by, and journal: [{field, user, text}] oldest
 *                first (field "comments" or "work_notes")
 *   update       {user, fields}: the update the rule reacts to; comments and work_notes in
 *                fields add journal entries, the others set fields
 *   later_update optional {user, fields}: an update saved after it, before the job runs
 *   users        optional {user name: display name}; a user's display name is its user name
 *                otherwise
 *   properties   system properties, e.g. {"twittnow.events_endpoint": "..."}
 *   http         what RESTMessageV2.execute() does: {"status", "body"} or {"throw": text}
 *   send         true: execute() really sends the request (Node's fetch) and reports the
 *                real answer; http is then ignored
 *
 * Output, JSON: {"condition": the condition's value, "requests": [{endpoint, method,
 * headers, body, timeout_ms, and with send: status, response_body, error}], "logs":
 * [{level, message}]}. An exception the script lets escape is logged at level "uncaught".
 */
'use strict';

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const { spawnSync } = require('child_process');

const SERVICENOW = path.join(__dirname, '..');
const SCRIPT = fs.readFileSync(path.join(SERVICENOW, 'business_rule.js'), 'utf8');
// On one line, as the build puts it in the rule's condition field.
const CONDITION = fs.readFileSync(path.join(SERVICENOW, 'business_rule_condition.js'), 'utf8')
    .trim().split(/\s+/).join(' ');
const JOURNAL_LABELS = { comments: 'Additional comments', work_notes: 'Work notes' };

function main() {
    if (process.argv[2] === '--fetch') {
        fetchOnce();
        return;
    }
    const scenario = JSON.parse(fs.readFileSync(0, 'utf8'));
    process.stdout.write(JSON.stringify(run(scenario)) + '\n');
}

function run(scenario) {
    const logs = [];
    const requests = [];
    const displayName = (user) => (scenario.users || {})[user] || user;
    const clock = journalClock();

    const before = copyCase(scenario.case);
    const saved = applyUpdate(before, scenario.update, clock);
    // The condition runs in the session of the user who saves; the async job runs as that
    // user too.
    const gs = glideSystem(scenario.properties || {}, scenario.update.user, displayName, logs);
    const change = { before, written: journalFields(scenario.update) };
    const sandbox = vm.createContext({
        gs,
        sn_ws: { RESTMessageV2: restMessage(scenario, requests) },
        current: glideRecord(saved, displayName, change),
        previous: glideRecord(before, displayName, null),
    });
    const condition = Boolean(vm.runInContext(CONDITION, sandbox, { filename: 'condition' }));
    if (condition) {
        const atJobTime = scenario.later_update ?
            applyUpdate(saved, scenario.later_update, clock) : saved;
        sandbox.current = glideRecord(atJobTime, displayName, null);
        sandbox.previous = null;
        try {
            vm.runInContext(SCRIPT, sandbox, { filename: 'business_rule.js' });
        } catch (error) {
            logs.push({ level: 'uncaught', message: String(error && error.stack || error) });
        }
    }
    return { condition, requests, logs };
}

function copyCase(fields) {
    return { ...fields, journal: [...(fields.journal || [])] };
}

// What saving an update does to a case: fields set, journal entries added, the counter and
// the last updater moved on.
function applyUpdate(record, update, clock) {
    const next = copyCase(record);
    for (const [name, value] of Object.entries(update.fields || {})) {
        if (name in JOURNAL_LABELS) {
            next.journal.push({ field: name, user: update.user, text: value, at: clock() });
        } else {
            next[name] = value;
        }
    }
    next.sys_mod_count = String(Number(record.sys_mod_count || 0) + 1);
    next.sys_updated_by = update.user;
    return next;
}

function journalFields(update) {
    return Object.keys(update.fields || {}).filter((name) => name in JOURNAL_LABELS);
}

function journalClock() {
    let second = 0;
    return () => `2026-05-01 10:00:${String(second++).padStart(2, '0')}`;
}

// A GlideRecord: getValue, and its fields as GlideElements. With `change` ({before,
// written}), the elements know what the update changed, as while the condition is
// evaluated; without, they do not, as in the async job.
function glideRecord(record, displayName, change) {
    const gr = {
        getValue(name) {
            const value = record[name];
            return value === undefined || value === '' ? null : String(value);
        },
    };
    const fields = Object.keys(record).filter((name) => name !== 'journal');
    for (const name of [...fields, ...Object.keys(JOURNAL_LABELS)]) {
        gr[name] = glideElement(record, name, displayName, change);
    }
    return gr;
}

function glideElement(record, name, displayName, change) {
    const isJournal = name in JOURNAL_LABELS;
    const value = () => (isJournal ? '' : String(record[name] ?? ''));
    const changes = () => {
        if (!change) {
            throw new Error(`${name}.changes() is not available in an async business rule`);
        }
        return isJournal ?
            change.written.includes(name) : String(change.before[name] ?? '') !== value();
    };
    return {
        toString: value,
        valueOf: value,
        changes,
        changesTo: (to) => changes() && value() === String(to),
        getJournalEntry(count) {
            const entries = record.journal
                .filter((entry) => entry.field === name)
                .reverse()
                .map((entry) => journalText(entry, displayName));
            return (count < 0 ? entries : entries.slice(0, count)).join('');
        },
    };
}

function journalText(entry, displayName) {
    const at = entry.at || '2026-04-30 09:00:00';
    return `${at} - ${displayName(entry.user)} (${JOURNAL_LABELS[entry.field]})\n` +
        `${entry.text}\n\n`;
}

function glideSystem(properties, user, displayName, logs) {
    const log = (level) => (message) => logs.push({ level, message: String(message) });
    return {
        getProperty(name, fallback) {
            if (name in properties) {
                return properties[name];
            }
            return fallback === undefined ? null : fallback;
        },
        getUserName: () => user,
        getUserDisplayName: () => displayName(user),
        info: log('info'),
        warn: log('warn'),
        error: log('error'),
    };
}

// sn_ws.RESTMessageV2: records each request; execute() answers as the scenario says, or
// sends the request for real.
function restMessage(scenario, requests) {
    return function RESTMessageV2() {
        const request = { endpoint: '', method: '', headers: {}, body: '', timeout_ms: null };
        this.setEndpoint = (url) => { request.endpoint = String(url); };
        this.setHttpMethod = (method) => { request.method = String(method); };
        this.setRequestHeader = (name, value) => { request.headers[name] = String(value); };
        this.setRequestBody = (body) => { request.body = String(body); };
        this.setHttpTimeout = (ms) => { request.timeout_ms = Number(ms); };
        this.execute = () => {
            requests.push(request);
            const http = scenario.send ? send(request) : (scenario.http || { status: 200 });
            if (http.throw) {
                throw new Error(http.throw);
            }
            if (scenario.send) {
                Object.assign(request, { status: http.status, response_body: http.body });
                if (http.error) {
                    request.error = http.error;
                }
            }
            return restResponse(http);
        };
    };
}

function restResponse(http) {
    return {
        getStatusCode: () => Number(http.status),
        getBody: () => String(http.body || ''),
        getErrorMessage: () => String(http.error || ''),
    };
}

// execute() is synchronous and fetch() is not: a child node does the fetch while this one
// waits for it.
function send(request) {
    const child = spawnSync(process.execPath, [__filename, '--fetch'], {
        input: JSON.stringify(request),
        encoding: 'utf8',
    });
    if (child.status !== 0) {
        return { status: 0, body: '', error: child.stderr || 'the fetch process failed' };
    }
    return JSON.parse(child.stdout);
}

async function fetchOnce() {
    const request = JSON.parse(fs.readFileSync(0, 'utf8'));
    let answer;
    try {
        const response = await fetch(request.endpoint, {
            method: request.method.toUpperCase(),
            headers: request.headers,
            body: request.body,
            redirect: 'manual',
            signal: AbortSignal.timeout(request.timeout_ms || 60000),
        });
        answer = { status: response.status, body: await response.text() };
    } catch (error) {
        // Like the instance, an unreachable endpoint is status 0 with an error message.
        answer = { status: 0, body: '', error: String(error.cause || error) };
    }
    process.stdout.write(JSON.stringify(answer));
}

main();
