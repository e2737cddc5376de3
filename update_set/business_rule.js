/*
 * Twittnow: send case updates to X.
 *
 * Async business rule on sn_customerservice_case (update). It tells the Twittnow API about
 * an agent's new customer-visible comment, or about the case being resolved or closed, so
 * that the customer gets the reply on X: POST {twittnow.events_endpoint}/events/ with
 * "Authorization: Token {twittnow.api_key}" and
 * {"case", "number", "message", "type": "comment" | "resolved" | "closed", "event_id"}.
 *
 * An async rule's script sees the case as it is in the database when the job runs, with no
 * previous record: changes() and changesTo() do not work here. So the rule's condition
 * (business_rule_condition.js), which the instance evaluates while the update is saved,
 * decides whether an update is worth sending, and this script reads what to send from the
 * saved case. ES5 only: the global scope's script engine runs it.
 */
(function executeRule(current, previous /* null when async */) {
    var RESOLVED = '6';
    var CLOSED = '3';

    var endpoint = gs.getProperty('twittnow.events_endpoint') || '';
    var apiKey = gs.getProperty('twittnow.api_key') || '';
    var integrationUser = gs.getProperty('twittnow.integration_user') || '';
    var number = current.getValue('number');

    // The condition already left out the integration user's own updates (the customers'
    // messages from X). If that user is the last updater now, the customer wrote again
    // before this job ran: the newest comment is theirs, and sending it would echo it back.
    if (integrationUser && current.getValue('sys_updated_by') == integrationUser) {
        gs.warn('Twittnow: ' + number + ' was updated by ' + integrationUser +
            ' before this rule ran; the agent\'s update was not sent to X.');
        return;
    }
    if (!endpoint || !apiKey) {
        gs.warn('Twittnow: twittnow.events_endpoint or twittnow.api_key is not set; ' +
            number + ' was not sent to X.');
        return;
    }

    var state = current.getValue('state');
    var type = state == CLOSED ? 'closed' : (state == RESOLVED ? 'resolved' : 'comment');
    var latest = journalEntry(current.comments.getJournalEntry(1));
    var message = latest.text;
    if (type != 'comment') {
        // Without resolution notes, the newest comment says it only if this job's user (the
        // one who resolved or closed the case) wrote it: it may well be the customer's own.
        var ownComment = latest.author == gs.getUserDisplayName() ? latest.text : '';
        message = current.getValue('close_notes') || ownComment;
    }

    // The same saved change always gives the same id, so the API drops a repeated job.
    var eventId = current.getValue('sys_id') + ':' + current.getValue('sys_mod_count');
    var url = endpoint.replace(/\/+$/, '') + '/events/';
    var body = JSON.stringify({
        'case': current.getValue('sys_id'),
        'number': number,
        'message': message,
        'type': type,
        'event_id': eventId
    });
    var failure = 'Twittnow: POST ' + url + ' for ' + number + ' (' + type + ', event ' +
        eventId + ') ';

    try {
        var request = new sn_ws.RESTMessageV2();
        request.setEndpoint(url);
        request.setHttpMethod('post');
        request.setHttpTimeout(30000);
        request.setRequestHeader('Content-Type', 'application/json');
        request.setRequestHeader('Accept', 'application/json');
        request.setRequestHeader('Authorization', 'Token ' + apiKey);
        request.setRequestBody(body);
        var response = request.execute();
        var status = response.getStatusCode();
        if (status < 200 || status > 299) {
            var answer = response.getBody() || response.getErrorMessage() || '';
            gs.error(withoutKey(failure + 'answered ' + status + ': ' +
                answer.substring(0, 500)));
        }
    } catch (error) {
        gs.error(withoutKey(failure + 'failed: ' + error));
    }

    // A journal entry reads "<date> - <user's name> (Additional comments)\n<text>\n\n".
    function journalEntry(entry) {
        var text = String(entry || '');
        var parts = /^[^\n]*? - ([^\n]*) \([^\n]*\)\n([\s\S]*)$/.exec(text);
        return parts ?
            {author: parts[1], text: parts[2].replace(/\s+$/, '')} :
            {author: '', text: text.replace(/\s+$/, '')};
    }

    // Whatever an error or an answer says, the key never reaches the system log.
    function withoutKey(text) {
        return text.split(apiKey).join('[api key]');
    }
})(current, previous);
