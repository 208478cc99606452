// Offline check of a declarative Jenkinsfile, run by tests/e2e/jenkinsfile.rs:
//   groovy tests/jenkins/DeclarativeCheck.groovy Jenkinsfile
// 1. Parses it with the Groovy that Jenkins uses (2.4) up to Phases.CONVERSION, so
//    syntax errors fail without resolving plugin classes or shared libraries.
// 2. Walks the AST for declarative-model mistakes Jenkins only rejects at run time
//    (unknown sections, post conditions and parameters; a stage without exactly one of
//    steps/stages/parallel/matrix; plain Groovy in `steps` outside `script {}`; bad
//    `environment` entries; duplicate stages, options and parameters; missing agent or stages).
// 3. Extracts every `shipwatch …` command line from `sh` steps (pipeline and helper
//    methods) so the Rust test can check each against the binary's own parser.
// Prints one JSON object {stages, shipwatch, errors}; exits 0 when errors is empty, 1
// otherwise, 2 when the file does not parse.
// (No `-` in this file's name: Groovy makes it a class name. No helper named `call`:
// inside closures it resolves to Closure.call.)

import groovy.json.JsonOutput
import org.codehaus.groovy.ast.ASTNode
import org.codehaus.groovy.ast.CodeVisitorSupport
import org.codehaus.groovy.ast.MethodNode
import org.codehaus.groovy.ast.ModuleNode
import org.codehaus.groovy.ast.expr.*
import org.codehaus.groovy.ast.stmt.*
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.MultipleCompilationErrorsException
import org.codehaus.groovy.control.Phases

if (args.length != 1) {
    System.err.println('usage: groovy DeclarativeCheck.groovy <Jenkinsfile>')
    System.exit(2)
}

PIPELINE_SECTIONS = ['agent', 'environment', 'options', 'parameters', 'triggers', 'tools', 'stages', 'post', 'libraries']
STAGE_SECTIONS = ['agent', 'environment', 'options', 'when', 'input', 'tools', 'steps', 'stages', 'parallel', 'matrix', 'post', 'failFast']
STAGE_BODIES = ['steps', 'stages', 'parallel', 'matrix']
POST_CONDITIONS = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure', 'success', 'unstable', 'unsuccessful', 'notBuilt', 'cleanup']
PARAMETER_TYPES = ['string', 'text', 'booleanParam', 'choice', 'password', 'credentials', 'file', 'run']

errors = []
stageNames = []
commands = []

void problem(ASTNode node, String message) {
    errors << ("line ${node?.lineNumber ?: '?'}: " + message)
}

List argList(MethodCallExpression m) {
    def a = m.arguments
    if (a instanceof TupleExpression) {
        return a.expressions
    }
    return [a]
}

ClosureExpression closureOf(MethodCallExpression m) {
    return argList(m).find { it instanceof ClosureExpression }
}

List statementsOf(ClosureExpression c) {
    def code = c?.code
    if (code instanceof BlockStatement) {
        return code.statements
    }
    return code == null ? [] : [code]
}

// The method call a statement consists of, or null when it is anything else.
MethodCallExpression callOf(Statement s) {
    if (s instanceof ExpressionStatement && s.expression instanceof MethodCallExpression) {
        return (MethodCallExpression) s.expression
    }
    return null
}

String describe(Statement s) {
    if (s instanceof ExpressionStatement) {
        def e = s.expression
        if (e instanceof DeclarationExpression) {
            return "declaration `def ${e.leftExpression.text} = ${e.rightExpression.text}`"
        }
        if (e instanceof BinaryExpression && e.operation.text == '=') {
            return "assignment `${e.text}`"
        }
        if (e instanceof MethodCallExpression && !e.isImplicitThis()) {
            return "method call on an object `${e.text}`"
        }
        return "expression `${e.text}`"
    }
    return s.getClass().simpleName.replace('Statement', '').toLowerCase() + ' statement'
}

// A literal string or a GString with `${expr}` kept as text; null when not literal.
String literal(Expression e) {
    if (e instanceof ConstantExpression && e.value instanceof String) {
        return (String) e.value
    }
    if (e instanceof GStringExpression) {
        def sb = new StringBuilder()
        def strings = e.strings
        def values = e.values
        for (int i = 0; i < strings.size(); i++) {
            sb.append(strings[i].value)
            if (i < values.size()) {
                sb.append('${').append(values[i].text).append('}')
            }
        }
        return sb.toString()
    }
    return null
}

// Statements directly in `steps` (and in block steps such as dir/withAWS/timeout):
// only step calls; plain Groovy belongs in `script {}`.
void checkSteps(List statements, String where) {
    for (Statement s in statements) {
        MethodCallExpression m = callOf(s)
        if (m == null || !m.isImplicitThis()) {
            problem(s, "${where}: ${describe(s)} is not a step; declarative allows only steps here (wrap Groovy in script { })")
            continue
        }
        if (m.methodAsString == 'script') {
            continue
        }
        ClosureExpression body = closureOf(m)
        if (body != null) {
            checkSteps(statementsOf(body), "${where} > ${m.methodAsString}")
        }
    }
}

// Sections of a pipeline or stage closure: each a known name, at most once.
Map sectionsOf(ClosureExpression c, List allowed, String where) {
    Map found = [:]
    for (Statement s in statementsOf(c)) {
        MethodCallExpression m = callOf(s)
        if (m == null || !m.isImplicitThis()) {
            problem(s, "${where}: ${describe(s)} is not a section or directive")
            continue
        }
        String name = m.methodAsString
        if (!(name in allowed)) {
            problem(s, "${where}: unknown section or directive `${name}` (allowed: ${allowed.join(', ')})")
            continue
        }
        if (found.containsKey(name)) {
            problem(s, "${where}: `${name}` appears more than once")
            continue
        }
        found[name] = m
    }
    return found
}

void checkOptions(MethodCallExpression options, String where) {
    Set seen = [] as Set
    for (Statement s in statementsOf(closureOf(options))) {
        MethodCallExpression m = callOf(s)
        if (m == null || !m.isImplicitThis()) {
            problem(s, "${where} options: ${describe(s)} is not an option")
            continue
        }
        if (!seen.add(m.methodAsString)) {
            problem(s, "${where} options: duplicate option `${m.methodAsString}`")
        }
    }
}

void checkParameters(MethodCallExpression params) {
    Set names = [] as Set
    for (Statement s in statementsOf(closureOf(params))) {
        MethodCallExpression m = callOf(s)
        if (m == null || !m.isImplicitThis() || !(m.methodAsString in PARAMETER_TYPES)) {
            problem(s, "parameters: ${m ? '`' + m.methodAsString + '`' : describe(s)} is not a parameter type (${PARAMETER_TYPES.join(', ')})")
            continue
        }
        def named = argList(m).find { it instanceof MapExpression }
        def nameEntry = named?.mapEntryExpressions?.find { it.keyExpression.text == 'name' }
        String name = nameEntry ? literal(nameEntry.valueExpression) : null
        if (name == null) {
            problem(s, "parameters: `${m.methodAsString}` has no literal name:")
        } else if (!names.add(name)) {
            problem(s, "parameters: duplicate parameter `${name}`")
        }
    }
}

void checkEnvironment(MethodCallExpression envCall, String where) {
    for (Statement s in statementsOf(closureOf(envCall))) {
        def e = s instanceof ExpressionStatement ? s.expression : null
        boolean ok = e instanceof BinaryExpression && e.operation.text == '=' &&
            e.leftExpression instanceof VariableExpression &&
            (e.leftExpression.name ==~ /[A-Za-z_][A-Za-z0-9_]*/)
        if (ok) {
            def v = e.rightExpression
            ok = literal(v) != null || v instanceof ConstantExpression ||
                (v instanceof MethodCallExpression && v.isImplicitThis())
        }
        if (!ok) {
            problem(s, "${where} environment: ${describe(s)} is not `NAME = value` (a string, GString or credentials(...))")
        }
    }
}

void checkPost(MethodCallExpression post, String where) {
    Set seen = [] as Set
    for (Statement s in statementsOf(closureOf(post))) {
        MethodCallExpression m = callOf(s)
        if (m == null || !m.isImplicitThis()) {
            problem(s, "${where} post: ${describe(s)} is not a post condition")
            continue
        }
        String cond = m.methodAsString
        if (!(cond in POST_CONDITIONS)) {
            problem(s, "${where} post: unknown condition `${cond}` (valid: ${POST_CONDITIONS.join(', ')})")
            continue
        }
        if (!seen.add(cond)) {
            problem(s, "${where} post: condition `${cond}` appears more than once")
        }
        ClosureExpression body = closureOf(m)
        if (body == null || statementsOf(body).isEmpty()) {
            problem(s, "${where} post ${cond}: no steps")
        } else {
            checkSteps(statementsOf(body), "${where} post ${cond}")
        }
    }
}

void checkStages(MethodCallExpression stagesCall, String where) {
    List stmts = statementsOf(closureOf(stagesCall))
    if (stmts.isEmpty()) {
        problem(stagesCall, "${where}: `stages` is empty")
    }
    for (Statement s in stmts) {
        MethodCallExpression m = callOf(s)
        if (m == null || m.methodAsString != 'stage' || !m.isImplicitThis()) {
            problem(s, "${where} stages: ${describe(s)} is not a stage('name') { … }")
            continue
        }
        checkStage(m)
    }
}

void checkStage(MethodCallExpression stage) {
    List a = argList(stage)
    String name = a ? literal(a[0]) : null
    ClosureExpression body = closureOf(stage)
    if (name == null || body == null) {
        problem(stage, "stage needs a literal name and a body: stage('Name') { … }")
        return
    }
    if (name in stageNames) {
        problem(stage, "duplicate stage name `${name}`")
    }
    stageNames << name
    String where = "stage '${name}'"
    Map sections = sectionsOf(body, STAGE_SECTIONS, where)
    List bodies = STAGE_BODIES.findAll { sections.containsKey(it) }
    if (bodies.size() != 1) {
        problem(stage, "${where}: needs exactly one of steps, stages, parallel, matrix (found ${bodies ? bodies.join(', ') : 'none'})")
    }
    if (sections.steps) {
        List st = statementsOf(closureOf(sections.steps))
        if (st.isEmpty()) {
            problem(sections.steps, "${where}: `steps` is empty")
        }
        checkSteps(st, where)
    }
    if (sections.stages) {
        checkStages(sections.stages, where)
    }
    if (sections.parallel) {
        checkStages(sections.parallel, where + ' parallel')
    }
    if (sections.options) {
        checkOptions(sections.options, where)
    }
    if (sections.environment) {
        checkEnvironment(sections.environment, where)
    }
    if (sections.post) {
        checkPost(sections.post, where)
    }
}

// Splits shell text into simple commands at ; && || | and newlines, outside quotes.
List shellCommands(String script) {
    String text = script.replace('\\\n', ' ')
    List out = []
    StringBuilder cur = new StringBuilder()
    char quote = 0
    for (int i = 0; i < text.length(); i++) {
        char ch = text.charAt(i)
        if (quote != 0) {
            cur.append(ch)
            if (ch == quote) {
                quote = 0
            } else if (ch == (char) '\\' && quote == (char) '"' && i + 1 < text.length()) {
                cur.append(text.charAt(++i))
            }
            continue
        }
        if (ch == (char) '\'' || ch == (char) '"') {
            quote = ch
            cur.append(ch)
        } else if (ch == (char) ';' || ch == (char) '\n' || ch == (char) '|' || ch == (char) '&') {
            out << cur.toString()
            cur = new StringBuilder()
        } else {
            cur.append(ch)
        }
    }
    out << cur.toString()
    return out.collect { it.trim() }.findAll { it }
}

void extractShipwatch(MethodCallExpression sh, String context) {
    Expression script = null
    for (def a in argList(sh)) {
        if (a instanceof MapExpression) {
            def entry = a.mapEntryExpressions.find { it.keyExpression.text == 'script' }
            if (entry) {
                script = entry.valueExpression
            }
        } else if (script == null && !(a instanceof ClosureExpression)) {
            script = a
        }
    }
    String text = script == null ? null : literal(script)
    if (text == null) {
        problem(sh, "${context}: sh script is not a literal string, so its shipwatch calls cannot be checked")
        return
    }
    for (String cmd in shellCommands(text)) {
        String c = cmd.replaceFirst(/^(if|then|else|elif|do|exec|time|!)\s+/, '')
        if (c ==~ /shipwatch(\s.*)?/) {
            commands << [context: context, line: sh.lineNumber, command: c]
        } else if (c =~ /(^|[\s\/=])shipwatch(\s|$)/) {
            problem(sh, "${context}: unrecognised shipwatch invocation `${c}` (call it as `shipwatch …` at the start of a command)")
        }
    }
}

// Finds sh steps anywhere (stages, post, helper methods), remembering the stage.
class ShFinder extends CodeVisitorSupport {
    List contextStack = []
    Closure onSh

    void visitMethodCallExpression(MethodCallExpression m) {
        String name = m.methodAsString
        boolean pushed = false
        if (m.isImplicitThis() && name == 'stage') {
            def a = m.arguments instanceof TupleExpression ? m.arguments.expressions : []
            contextStack << ('stage ' + (a ? a[0].text : '?'))
            pushed = true
        } else if (m.isImplicitThis() && name == 'post') {
            contextStack << 'post'
            pushed = true
        }
        if (m.isImplicitThis() && name == 'sh') {
            onSh(m, contextStack ? contextStack[-1] : 'top level')
        }
        super.visitMethodCallExpression(m)
        if (pushed) {
            contextStack.remove(contextStack.size() - 1)
        }
    }
}

String path = args[0]
String source = new File(path).getText('UTF-8')
CompilationUnit unit = new CompilationUnit()
// A fixed source name: the real file name may hold characters a class name cannot.
unit.addSource('Jenkinsfile', source)
try {
    unit.compile(Phases.CONVERSION)
} catch (MultipleCompilationErrorsException e) {
    errors << ('does not parse: ' + e.message.readLines().findAll { it.trim() }.join(' '))
    println JsonOutput.toJson([stages: [], shipwatch: [], errors: errors])
    System.exit(2)
}
ModuleNode module = unit.AST.modules[0]

List pipelines = module.statementBlock.statements.collect { callOf(it) }.findAll { it != null && it.methodAsString == 'pipeline' }
if (pipelines.size() != 1) {
    errors << "expected exactly one pipeline { } block, found ${pipelines.size()}"
} else {
    MethodCallExpression pipelineCall = pipelines[0]
    Map sections = sectionsOf(closureOf(pipelineCall), PIPELINE_SECTIONS, 'pipeline')
    for (String required in ['agent', 'stages']) {
        if (!sections.containsKey(required)) {
            problem(pipelineCall, "pipeline: missing `${required}`")
        }
    }
    if (sections.stages) {
        checkStages(sections.stages, 'pipeline')
    }
    if (sections.options) {
        checkOptions(sections.options, 'pipeline')
    }
    if (sections.parameters) {
        checkParameters(sections.parameters)
    }
    if (sections.environment) {
        checkEnvironment(sections.environment, 'pipeline')
    }
    if (sections.post) {
        checkPost(sections.post, 'pipeline')
    }
}

def finder = new ShFinder(onSh: { MethodCallExpression m, String ctx -> extractShipwatch(m, ctx) })
module.statementBlock.visit(finder)
for (MethodNode method in module.methods) {
    finder.contextStack = ["method ${method.name}"]
    method.code?.visit(finder)
}

println JsonOutput.toJson([stages: stageNames, shipwatch: commands, errors: errors])
System.exit(errors ? 1 : 0)
